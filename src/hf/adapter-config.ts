// The one reader and writer of a PEFT LoRA adapter's adapter_config.json, for the engine (loading, saving trained
// adapters) and the stages (merging, weight diffs): validation with JSON pointers, rsLoRA and alpha_pattern read the
// same way everywhere, and each module's scaling as PEFT computes it.
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { PeftError } from '../errors.ts';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

export interface LoraConfig {
  r: number;
  /** lora_alpha (PEFT's default: r). */
  alpha: number;
  /** use_rslora: scaling alpha / sqrt(r) instead of alpha / r. */
  rslora: boolean;
  dropout: number;
  /**
   * target_modules: module names (deduplicated, sorted), PEFT's 'all-linear', or a regular expression over full module
   * names (`{ pattern }`); undefined where the file has none (PEFT then used its default for the model type).
   */
  targets: string[] | 'all-linear' | { pattern: string } | undefined;
  /** alpha_pattern: lora_alpha per module, keyed by a module-name suffix pattern (PEFT: re.match(rf".*\.{key}$", name)). */
  alphaPattern: Record<string, number>;
  baseModel?: string;
  /** The file as read (every key, known or not). */
  raw: Record<string, unknown>;
}

function fail(file: string, pointer: string, msg: string, hint?: string): never {
  throw new PeftError('E_ADAPTER', `${file}${pointer}: ${msg}`, { file, pointer, hint });
}

/** Checks a parsed adapter_config.json; `file` names it in messages. Extra keys are kept in `raw` and otherwise ignored. */
export function parseAdapterConfig(j: unknown, file: string): LoraConfig {
  if (!j || typeof j !== 'object' || Array.isArray(j)) fail(file, '', 'must hold a JSON object');
  const raw = j as Record<string, unknown>;
  if (raw.peft_type !== undefined && raw.peft_type !== 'LORA') fail(file, '#/peft_type', `is '${String(raw.peft_type)}'; only LORA adapters are supported`);
  const r = raw.r;
  if (typeof r !== 'number' || !Number.isInteger(r) || r <= 0) fail(file, '#/r', `must be a positive integer, got ${JSON.stringify(r)}`);
  const alpha = raw.lora_alpha ?? r;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) fail(file, '#/lora_alpha', `must be a number, got ${JSON.stringify(alpha)}`);
  const rslora = raw.use_rslora ?? false;
  if (typeof rslora !== 'boolean') fail(file, '#/use_rslora', `must be true or false, got ${JSON.stringify(rslora)}`);
  if (raw.use_dora === true) fail(file, '#/use_dora', 'DoRA adapters (use_dora: true) are not supported', 'use a plain LoRA adapter');
  const dropout = raw.lora_dropout ?? 0;
  if (typeof dropout !== 'number' || dropout < 0 || dropout >= 1) fail(file, '#/lora_dropout', `must be a number in [0, 1), got ${JSON.stringify(dropout)}`);
  const rp = raw.rank_pattern;
  if (rp !== undefined && rp !== null && (typeof rp !== 'object' || Array.isArray(rp))) fail(file, '#/rank_pattern', 'must be an object');
  if (rp && Object.keys(rp).length > 0)
    fail(file, '#/rank_pattern', 'per-module ranks (rank_pattern) are not supported', 'use an adapter with one rank r for every module');
  const ap = raw.alpha_pattern ?? {};
  if (typeof ap !== 'object' || Array.isArray(ap) || ap === null) fail(file, '#/alpha_pattern', 'must be an object of module pattern -> lora_alpha');
  const alphaPattern: Record<string, number> = {};
  for (const [k, v] of Object.entries(ap as Record<string, unknown>)) {
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(file, `#/alpha_pattern/${k}`, `must be a number, got ${JSON.stringify(v)}`);
    try {
      new RegExp(`^.*\\.${k}$`);
    } catch {
      fail(file, `#/alpha_pattern/${k}`, 'is not a valid module pattern (a regular expression)');
    }
    alphaPattern[k] = v;
  }
  const tm = raw.target_modules;
  let targets: LoraConfig['targets'];
  if (tm === undefined || tm === null) targets = undefined;
  else if (tm === 'all-linear') targets = 'all-linear';
  else if (typeof tm === 'string') targets = { pattern: tm };
  else if (Array.isArray(tm) && tm.every((t) => typeof t === 'string')) targets = [...new Set(tm as string[])].sort();
  else fail(file, '#/target_modules', 'must be a list of module names, "all-linear" or a regular expression');
  return {
    r,
    alpha,
    rslora,
    dropout,
    targets,
    alphaPattern,
    baseModel: typeof raw.base_model_name_or_path === 'string' ? raw.base_model_name_or_path : undefined,
    raw,
  };
}

/** Reads and checks <dir>/adapter_config.json (its weights file must be there too). */
export function readAdapterConfig(dir: string): LoraConfig {
  const file = join(dir, ADAPTER_CONFIG);
  if (!existsSync(file))
    throw new PeftError('E_ADAPTER', `${dir}: no ${ADAPTER_CONFIG} (not a PEFT adapter folder)`, {
      file,
      hint: 'an adapter directory holds adapter_config.json and adapter_model.safetensors as PEFT saves them',
    });
  if (!existsSync(join(dir, ADAPTER_WEIGHTS))) throw new PeftError('E_ADAPTER', `${dir}: no ${ADAPTER_WEIGHTS}`, { file: join(dir, ADAPTER_WEIGHTS) });
  let j: unknown;
  try {
    j = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new PeftError('E_ADAPTER', `${file}: not valid JSON (${(err as Error).message})`, { file });
  }
  return parseAdapterConfig(j, file);
}

/** lora_alpha of one module: the first alpha_pattern key matching its name (as PEFT's get_pattern_key), else lora_alpha. */
export function moduleAlpha(cfg: Pick<LoraConfig, 'alpha' | 'alphaPattern'>, moduleName: string): number {
  for (const [k, v] of Object.entries(cfg.alphaPattern)) if (new RegExp(`^.*\\.${k}$`).test(moduleName)) return v;
  return cfg.alpha;
}

/** PEFT's scaling of one module (e.g. `model.layers.0.self_attn.q_proj`): alpha / r, or alpha / sqrt(r) with rsLoRA. */
export function loraScaling(cfg: Pick<LoraConfig, 'r' | 'alpha' | 'rslora' | 'alphaPattern'>, moduleName?: string): number {
  const a = moduleName === undefined ? cfg.alpha : moduleAlpha(cfg, moduleName);
  return cfg.rslora ? a / Math.sqrt(cfg.r) : a / cfg.r;
}

/** alpha_pattern entries that give some module another alpha than lora_alpha (a reader with one scaling per adapter cannot apply them). */
export function moduleAlphaKeys(cfg: Pick<LoraConfig, 'alpha' | 'alphaPattern'>): string[] {
  return Object.entries(cfg.alphaPattern)
    .filter(([, v]) => v !== cfg.alpha)
    .map(([k]) => k);
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
    );
  return v;
}

/** adapter_config.json as PEFT 0.13 writes it (the keys PEFT needs to load it), for an adapter with one alpha. */
export function peftConfigJson(cfg: {
  r: number;
  alpha: number;
  rslora: boolean;
  dropout: number;
  targets: readonly string[];
  baseModel?: string;
  /** GPT-2's Conv1D layers store weights [in, out]: PEFT writes fan_in_fan_out true for them. */
  fanInFanOut?: boolean;
}): Record<string, unknown> {
  return {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: cfg.baseModel ?? null,
    bias: 'none',
    fan_in_fan_out: cfg.fanInFanOut ?? false,
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
}

/** Writes <dir>/adapter_config.json atomically (temp file + rename), keys sorted. */
export function writeAdapterConfigJson(dir: string, json: Record<string, unknown>): void {
  const file = join(dir, ADAPTER_CONFIG);
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    writeFileSync(tmp, `${JSON.stringify(sortKeys(json), null, 2)}\n`);
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new PeftError('E_ADAPTER', `${file}: cannot write: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file });
  }
}
