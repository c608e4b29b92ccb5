// The files of a Hugging Face model directory an export copies beside its weights: the tokenizer (every file
// transformers / tokenizers may read) and, for merged models, config.json and generation_config.json.
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PeftError } from '../../src/errors.ts';

export const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'tokenizer.model',
  'vocab.json',
  'merges.txt',
  'added_tokens.json',
  'chat_template.jinja',
] as const;

/** Copies the tokenizer files the model has; returns their names. A model without tokenizer.json is an error. */
export function copyTokenizerFiles(modelDir: string, dst: string): string[] {
  if (!existsSync(join(modelDir, 'tokenizer.json')) && !existsSync(join(modelDir, 'tokenizer.model')))
    throw new PeftError('E_MODEL', `${modelDir}: no tokenizer.json (nor tokenizer.model) to export beside the weights`, {
      file: join(modelDir, 'tokenizer.json'),
      hint: 'use a base model directory saved with its tokenizer (save_pretrained writes it)',
    });
  const copied: string[] = [];
  for (const f of TOKENIZER_FILES) {
    if (!existsSync(join(modelDir, f))) continue;
    copyFileSync(join(modelDir, f), join(dst, f));
    copied.push(f);
  }
  return copied;
}

export function readJsonFile(file: string, code: 'E_MODEL' | 'E_ADAPTER' = 'E_MODEL'): Record<string, unknown> {
  if (!existsSync(file)) throw new PeftError(code, `${file}: missing`, { file });
  try {
    const v = JSON.parse(readFileSync(file, 'utf8'));
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new PeftError(code, `${file}: not valid JSON (${(e as Error).message})`, { file });
  }
}

export function writeJson(file: string, v: unknown): void {
  writeFileSync(file, JSON.stringify(v, null, 2) + '\n');
}

/** generation_config.json: the model's own, else one made from config.json's special ids (as transformers does). */
export function generationConfigFor(modelDir: string, config: Record<string, unknown>): Record<string, unknown> {
  const f = join(modelDir, 'generation_config.json');
  if (existsSync(f)) return readJsonFile(f);
  const g: Record<string, unknown> = { _from_model_config: true };
  for (const k of ['bos_token_id', 'eos_token_id', 'pad_token_id']) if (config[k] !== undefined) g[k] = config[k];
  return g;
}
