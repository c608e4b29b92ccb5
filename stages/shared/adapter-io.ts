// Reads and writes PEFT LoRA adapter directories (adapter_config.json + adapter_model.safetensors) for merging and
// weight diffs: the config through the one reader (src/hf/adapter-config.ts), the tensor names checked, each module's
// A [r, in], B [out, r] in float64 with its PEFT scaling (rsLoRA, alpha_pattern).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PeftError } from '../../src/errors.ts';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, loraScaling, readAdapterConfig, writeAdapterConfigJson } from '../../src/hf/adapter-config.ts';
import { readSafetensors, writeSafetensorsF32, type Tensor } from '../../src/hf/safetensors.ts';
import { mat, type Mat } from './matrix.ts';

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

function toMat(t: Tensor): Mat {
  return mat(t.shape[0], t.shape[1], Float64Array.from(t.data));
}

/** Loads a PEFT LoRA adapter directory, checking everything a merge relies on. */
export function readPeftAdapter(dir: string): PeftAdapter {
  const cfg = readAdapterConfig(dir);
  const { r, raw: config } = cfg;
  const wPath = join(dir, ADAPTER_WEIGHTS);
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
      bad(
        wPath,
        `module "${key}": lora_A is [${p.a.shape}] and lora_B is [${p.b.shape}], expected [${r}, in] and [out, ${r}] for r = ${r} in ${ADAPTER_CONFIG}`,
      );
    }
    modules.set(key, { key, a: toMat(p.a), b: toMat(p.b), scaling: loraScaling(cfg, key.replace(/^base_model\.model\./, '')) });
  }
  return { dir, config, r, modules };
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
  writeAdapterConfigJson(dir, config);
}
