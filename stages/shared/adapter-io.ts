// Reads and writes PEFT LoRA adapter directories (adapter_config.json + adapter_model.safetensors) for merging:
// validates the config and tensor names, gives each module its A [r, in], B [out, r] in float64 and its PEFT scaling.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { PeftError } from '../../src/errors.ts';
import { readSafetensors, writeSafetensorsF32, type Tensor } from '../../src/safetensors.ts';
import { mat, type Mat } from './matrix.ts';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

export interface LoraModule {
  /** Tensor-name prefix, e.g. `base_model.model.model.layers.0.self_attn.q_proj`. */
  key: string;
  a: Mat; // [r, in]
  b: Mat; // [out, r]
  /** PEFT scaling: lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora (alpha_pattern honoured). */
  scaling: number;
}

export interface PeftAdapter {
  dir: string;
  config: Record<string, unknown>;
  r: number;
  modules: Map<string, LoraModule>;
}

function bad(file: string, msg: string, hint?: string): never {
  throw new PeftError('E_ADAPTER', `${file}: ${msg}`, { file, hint });
}

function patternValue(pattern: unknown, moduleName: string): number | undefined {
  if (!pattern || typeof pattern !== 'object') return undefined;
  for (const [k, v] of Object.entries(pattern as Record<string, unknown>)) {
    // PEFT 0.13 get_pattern_key: re.match(rf".*\.{key}$", module name)
    let re: RegExp;
    try {
      re = new RegExp(`^.*\\.${k}$`);
    } catch {
      continue;
    }
    if (re.test(moduleName) && typeof v === 'number') return v;
  }
  return undefined;
}

function toMat(t: Tensor): Mat {
  return mat(t.shape[0], t.shape[1], Float64Array.from(t.data));
}

/** Loads a PEFT LoRA adapter directory, checking everything a merge relies on. */
export function readPeftAdapter(dir: string): PeftAdapter {
  const cfgPath = join(dir, ADAPTER_CONFIG);
  const wPath = join(dir, ADAPTER_WEIGHTS);
  if (!existsSync(cfgPath)) bad(cfgPath, 'missing', 'an adapter directory needs adapter_config.json and adapter_model.safetensors as PEFT saves them');
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    bad(cfgPath, `not valid JSON: ${(e as Error).message}`);
  }
  if (!config || typeof config !== 'object' || Array.isArray(config)) bad(cfgPath, 'must be a JSON object');
  if (config.peft_type !== undefined && config.peft_type !== 'LORA') bad(cfgPath, `peft_type is ${JSON.stringify(config.peft_type)}; only LORA adapters can be merged`);
  const r = config.r;
  const alpha = config.lora_alpha ?? r;
  if (typeof r !== 'number' || !Number.isInteger(r) || r <= 0) bad(cfgPath, `"r" must be a positive integer (got ${JSON.stringify(r)})`);
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) bad(cfgPath, `"lora_alpha" must be a number (got ${JSON.stringify(alpha)})`);
  if (config.use_dora === true) bad(cfgPath, 'DoRA adapters (use_dora: true) cannot be merged by these methods', 'merge plain LoRA adapters, or stack DoRA adapters at runtime');
  if (config.rank_pattern && typeof config.rank_pattern === 'object' && Object.keys(config.rank_pattern).length > 0) {
    bad(cfgPath, 'per-module ranks (rank_pattern) are not supported by merge', 'use adapters with one rank r for every module, or compose them with method "stack"');
  }
  const rslora = config.use_rslora === true;
  if (!existsSync(wPath)) bad(wPath, 'missing', 'PEFT writes the weights as adapter_model.safetensors');
  const { tensors } = readSafetensors(wPath, { code: 'E_ADAPTER' });
  const parts = new Map<string, { a?: Tensor; b?: Tensor }>();
  for (const [name, t] of tensors) {
    const m = /^(.+)\.lora_([AB])\.weight$/.exec(name);
    if (!m) bad(wPath, `tensor "${name}" is not a LoRA A/B weight (embedding LoRA, biases and modules_to_save are not supported by merge)`);
    if (t.shape.length !== 2) bad(wPath, `tensor "${name}" has shape [${t.shape}]; LoRA weights are 2-D`);
    const p = parts.get(m[1]) ?? {};
    p[m[2] === 'A' ? 'a' : 'b'] = t;
    parts.set(m[1], p);
  }
  if (parts.size === 0) bad(wPath, 'has no lora_A / lora_B tensors');
  const modules = new Map<string, LoraModule>();
  for (const [key, p] of parts) {
    if (!p.a || !p.b) bad(wPath, `module "${key}" has ${p.a ? 'lora_A' : 'lora_B'} but no ${p.a ? 'lora_B' : 'lora_A'}`);
    if (p.a.shape[0] !== r || p.b.shape[1] !== r) {
      bad(wPath, `module "${key}": lora_A is [${p.a.shape}] and lora_B is [${p.b.shape}], expected [${r}, in] and [out, ${r}] for r = ${r} in ${ADAPTER_CONFIG}`);
    }
    const moduleName = key.replace(/^base_model\.model\./, '');
    const a = patternValue(config.alpha_pattern, moduleName) ?? alpha;
    modules.set(key, { key, a: toMat(p.a), b: toMat(p.b), scaling: rslora ? a / Math.sqrt(r) : a / r });
  }
  return { dir, config, r, modules };
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
  return v;
}

/**
 * Writes a PEFT adapter directory: the weights (atomic temp + rename, F32, sorted names) first, then the config
 * (atomic), so a directory with a config is always complete.
 */
export function writePeftAdapter(dir: string, config: Record<string, unknown>, modules: Iterable<{ key: string; a: Mat; b: Mat }>): void {
  mkdirSync(dir, { recursive: true });
  const tensors = new Map<string, Tensor>();
  for (const m of modules) {
    tensors.set(`${m.key}.lora_A.weight`, { shape: [m.a.rows, m.a.cols], data: Float32Array.from(m.a.data) });
    tensors.set(`${m.key}.lora_B.weight`, { shape: [m.b.rows, m.b.cols], data: Float32Array.from(m.b.data) });
  }
  writeSafetensorsF32(join(dir, ADAPTER_WEIGHTS), tensors, { format: 'pt' }, { code: 'E_ADAPTER' });
  const cfgPath = join(dir, ADAPTER_CONFIG);
  const tmp = `${cfgPath}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    writeFileSync(tmp, `${JSON.stringify(sortKeys(config), null, 2)}\n`);
    renameSync(tmp, cfgPath);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new PeftError('E_ADAPTER', `${cfgPath}: cannot write: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file: cfgPath });
  }
}
