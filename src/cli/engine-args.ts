// Argument parsing for the engine's CLI commands (generate, score, serve): `DIR[:SCALE]` adapter specs, id lists,
// --quant and --compute, ids checked against the loaded model's vocabulary; each bad value is a usage error naming its flag.
import { join } from 'node:path';
import { PeftError } from '../errors.ts';
import type { AdapterSpec } from '../engine/load-with-adapters.ts';
import type { ComputeMode, EngineModel, Quant } from '../engine/model.ts';

/** "path/to/adapter" or "path/to/adapter:0.5" (the part after the last ':' is the weight when it is a number). */
export function parseAdapterSpec(spec: string): AdapterSpec {
  const i = spec.lastIndexOf(':');
  if (i > 0) {
    const w = spec.slice(i + 1);
    if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(w)) return { dir: spec.slice(0, i), weight: Number(w) };
  }
  if (!spec) throw new PeftError('E_USAGE', '--adapter needs a directory (DIR or DIR:SCALE)');
  return { dir: spec, weight: 1 };
}

export function parseIds(text: string, flag: string): number[] {
  const parts = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (parts.length === 0) throw new PeftError('E_USAGE', `${flag} needs a comma-separated list of token ids, e.g. ${flag} 1,403,407`);
  return parts.map((p) => {
    if (!/^\d+$/.test(p)) throw new PeftError('E_USAGE', `${flag}: '${p}' is not a non-negative integer token id`);
    return Number(p);
  });
}

export function checkQuant(q: unknown): Quant {
  if (q === undefined) return 'none';
  if (q !== 'none' && q !== 'nf4') throw new PeftError('E_USAGE', `--quant must be 'nf4' or 'none', got '${String(q)}'`);
  return q;
}

/** --compute; int8 only with quant nf4 (pass the checked --quant). */
export function checkCompute(c: unknown, quant?: Quant): ComputeMode {
  if (c === undefined) return 'fp32';
  if (c !== 'fp32' && c !== 'bf16' && c !== 'int8' && c !== 'auto')
    throw new PeftError('E_USAGE', `--compute must be 'fp32', 'bf16', 'int8' or 'auto', got '${String(c)}'`);
  if (c === 'int8' && quant !== 'nf4') throw new PeftError('E_USAGE', `--compute int8 decodes NF4 weights: add --quant nf4 (or use --compute fp32 / bf16)`);
  return c;
}

/** Ids outside the vocabulary: blamed on the flag that gave them, or (flag undefined) on the tokenizer that made them. */
export function checkIds(model: EngineModel, ids: number[], flag: string | undefined): void {
  for (const id of ids)
    if (id >= model.info.vocabSize) {
      if (flag) throw new PeftError('E_USAGE', `${flag}: id ${id} is outside the vocabulary (size ${model.info.vocabSize})`);
      throw new PeftError(
        'E_MODEL',
        `the tokenizer ${join(model.tokenizer.dir, 'tokenizer.json')} turned the text into token id ${id}, but the model has ${model.info.vocabSize} token ids (config.json vocab_size)`,
        { hint: "that tokenizer.json does not belong to the model's weights: use the tokenizer saved with them" },
      );
    }
}
