// The engine's view of a PEFT adapter's config: adapter_config.json read by the one reader (src/hf/adapter-config.ts),
// then checked for what the native engine runs (Llama projections as targets, one alpha for every module); and the
// config written for adapters peftmake trains. The tensors themselves are read and written by the native engine.
import { join } from 'node:path';
import { PeftError } from '../errors.ts';
import { ADAPTER_CONFIG, moduleAlphaKeys, peftConfigJson, readAdapterConfig as readLoraConfig, writeAdapterConfigJson } from '../hf/adapter-config.ts';

export const LLAMA_PROJECTIONS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
/** GPT-2's LoRA targets (PEFT names of its Conv1D layers; c_proj is both attn.c_proj and mlp.c_proj). */
export const GPT2_MODULES = ['c_attn', 'c_fc', 'c_proj'] as const;

/** The module names a model family's adapters target ('all-linear' = all of them, as PEFT 0.13 means it). */
export function targetModulesFor(modelType?: string): readonly string[] {
  return modelType === 'gpt2' ? GPT2_MODULES : LLAMA_PROJECTIONS;
}

export interface AdapterConfig {
  r: number;
  alpha: number;
  rslora: boolean;
  dropout: number;
  targets: string[]; // projection names, sorted, no duplicates
  baseModel?: string;
  fanInFanOut?: boolean; // written as fan_in_fan_out (true for GPT-2's Conv1D layers)
}

function fail(file: string, pointer: string, msg: string, hint?: string): never {
  throw new PeftError('E_ADAPTER', `${file}${pointer}: ${msg}`, { file, pointer, hint });
}

/**
 * Reads <dir>/adapter_config.json, its targets checked against the base's family (`modelType`, e.g. 'gpt2'; Llama
 * when not given). Extra keys and extra files (README.md) are ignored.
 */
export function readAdapterConfig(dir: string, modelType?: string): AdapterConfig {
  const file = join(dir, ADAPTER_CONFIG);
  const cfg = readLoraConfig(dir);
  const odd = moduleAlphaKeys(cfg);
  if (odd.length)
    fail(
      file,
      `#/alpha_pattern/${odd[0]}`,
      `gives modules matching '${odd[0]}' lora_alpha ${cfg.alphaPattern[odd[0]]} (lora_alpha is ${cfg.alpha}); the engine applies one scaling per adapter`,
      'merge the adapter (a composition with a merge method honours alpha_pattern) or give every module the same alpha',
    );
  const tm = cfg.targets;
  let targets: string[];
  const known = targetModulesFor(modelType);
  const family = modelType === 'gpt2' ? 'a GPT-2 model' : 'a Llama-family model';
  if (tm === 'all-linear') targets = [...known];
  else if (Array.isArray(tm)) targets = tm;
  else if (tm === undefined) fail(file, '#/target_modules', 'must be a list of module names');
  else fail(file, '#/target_modules', `regular-expression targets ('${tm.pattern}') are not supported; list module names`);
  for (const t of targets) if (!known.includes(t)) fail(file, '#/target_modules', `'${t}' is not a module of ${family}`, `use some of ${known.join(', ')}`);
  const fanInFanOut = modelType === 'gpt2' ? true : undefined;
  return { r: cfg.r, alpha: cfg.alpha, rslora: cfg.rslora, dropout: cfg.dropout, targets, baseModel: cfg.baseModel, fanInFanOut };
}

/** Writes adapter_config.json as PEFT 0.13 does (the keys PEFT needs to load it). */
export function writeAdapterConfig(dir: string, cfg: AdapterConfig): void {
  writeAdapterConfigJson(dir, peftConfigJson(cfg));
}
