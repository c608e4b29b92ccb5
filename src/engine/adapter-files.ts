// PEFT adapter directories: read and validate adapter_config.json (r, lora_alpha, use_rslora, target_modules as a
// set), and write it for adapters peftmake trains. The tensors themselves are read and written by the native engine.
import { existsSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { PeftError } from '../errors.ts';

export const LLAMA_PROJECTIONS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;

export interface AdapterConfig {
  r: number;
  alpha: number;
  rslora: boolean;
  dropout: number;
  targets: string[]; // projection names, sorted, no duplicates
  baseModel?: string;
}

function fail(file: string, pointer: string, msg: string, hint?: string): never {
  throw new PeftError('E_ADAPTER', `${file}${pointer}: ${msg}`, { file, pointer, hint });
}

/** Reads <dir>/adapter_config.json. Extra keys and extra files (README.md) are ignored. */
export function readAdapterConfig(dir: string): AdapterConfig {
  const file = join(dir, 'adapter_config.json');
  if (!existsSync(file)) throw new PeftError('E_ADAPTER', `${dir}: no adapter_config.json (not a PEFT adapter folder)`, { file });
  if (!existsSync(join(dir, 'adapter_model.safetensors')))
    throw new PeftError('E_ADAPTER', `${dir}: no adapter_model.safetensors`, { file: join(dir, 'adapter_model.safetensors') });
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new PeftError('E_ADAPTER', `${file}: not valid JSON (${(err as Error).message})`, { file });
  }
  if (!j || typeof j !== 'object' || Array.isArray(j)) fail(file, '', 'must hold a JSON object');
  if (j.peft_type !== undefined && j.peft_type !== 'LORA') fail(file, '#/peft_type', `is '${String(j.peft_type)}'; only LORA adapters are supported`);
  const r = j.r;
  if (typeof r !== 'number' || !Number.isInteger(r) || r <= 0) fail(file, '#/r', `must be a positive integer, got ${JSON.stringify(r)}`);
  const alpha = j.lora_alpha ?? r;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) fail(file, '#/lora_alpha', `must be a number, got ${JSON.stringify(alpha)}`);
  const rslora = j.use_rslora ?? false;
  if (typeof rslora !== 'boolean') fail(file, '#/use_rslora', 'must be true or false');
  if (j.use_dora === true) fail(file, '#/use_dora', 'DoRA adapters are not supported');
  const dropout = j.lora_dropout ?? 0;
  if (typeof dropout !== 'number' || dropout < 0 || dropout >= 1) fail(file, '#/lora_dropout', 'must be a number in [0, 1)');
  for (const k of ['rank_pattern', 'alpha_pattern'] as const) {
    const v = j[k];
    if (v && typeof v === 'object' && Object.keys(v).length > 0) fail(file, `#/${k}`, 'per-module ranks / alphas are not supported');
  }
  let targets: string[];
  const tm = j.target_modules;
  if (tm === 'all-linear') targets = [...LLAMA_PROJECTIONS];
  else if (Array.isArray(tm) && tm.every((t) => typeof t === 'string')) targets = [...new Set(tm as string[])].sort();
  else if (typeof tm === 'string') fail(file, '#/target_modules', `regular-expression targets ('${tm}') are not supported; list module names`);
  else fail(file, '#/target_modules', 'must be a list of module names');
  for (const t of targets)
    if (!(LLAMA_PROJECTIONS as readonly string[]).includes(t))
      fail(file, '#/target_modules', `'${t}' is not a projection of a Llama-family model`, `use some of ${LLAMA_PROJECTIONS.join(', ')}`);
  return { r, alpha, rslora, dropout, targets, baseModel: typeof j.base_model_name_or_path === 'string' ? j.base_model_name_or_path : undefined };
}

/** Writes adapter_config.json as PEFT 0.13 does (the keys PEFT needs to load it). */
export function writeAdapterConfig(dir: string, cfg: AdapterConfig): void {
  const j = {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: cfg.baseModel ?? null,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    loftq_config: {},
    lora_alpha: cfg.alpha,
    lora_dropout: cfg.dropout,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: null,
    peft_type: 'LORA',
    r: cfg.r,
    rank_pattern: {},
    revision: null,
    target_modules: [...cfg.targets].sort(),
    task_type: 'CAUSAL_LM',
    use_dora: false,
    use_rslora: cfg.rslora,
  };
  const file = join(dir, 'adapter_config.json');
  writeFileSync(file + '.tmp', JSON.stringify(j, null, 2) + '\n');
  renameSync(file + '.tmp', file);
}
