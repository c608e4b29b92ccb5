// Test helpers for adapter merging: float64 reference deltas, symmetric Jacobi eigenvalues (an independent way to
// get singular values), and synthetic PEFT adapters with seeded random factors.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSafetensorsF32, type Tensor } from '../../../src/hf/safetensors.ts';

/** s·B·A in float64, row-major [out, in]. */
export function delta(b: ArrayLike<number>, a: ArrayLike<number>, out: number, r: number, inF: number, s = 1): Float64Array {
  const d = new Float64Array(out * inF);
  for (let i = 0; i < out; i++)
    for (let k = 0; k < r; k++) {
      const v = b[i * r + k] * s;
      for (let j = 0; j < inF; j++) d[i * inF + j] += v * a[k * inF + j];
    }
  return d;
}

export function addScaled(target: Float64Array, x: Float64Array, c: number): Float64Array {
  for (let i = 0; i < x.length; i++) target[i] += c * x[i];
  return target;
}

export function maxAbsDiff(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

export function frob(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s);
}

/** Singular values of M [rows, cols] (descending) from the eigenvalues of MᵀM by cyclic Jacobi rotations. */
export function singularValues(m: Float64Array, rows: number, cols: number): number[] {
  const n = cols;
  const g = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < rows; k++) s += m[k * cols + i] * m[k * cols + j];
      g[i * n + j] = s;
    }
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += g[p * n + q] ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++)
      for (let q = p + 1; q < n; q++) {
        const apq = g[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (g[q * n + q] - g[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const gkp = g[k * n + p];
          const gkq = g[k * n + q];
          g[k * n + p] = c * gkp - s * gkq;
          g[k * n + q] = s * gkp + c * gkq;
        }
        for (let k = 0; k < n; k++) {
          const gpk = g[p * n + k];
          const gqk = g[q * n + k];
          g[p * n + k] = c * gpk - s * gqk;
          g[q * n + k] = s * gpk + c * gqk;
        }
      }
  }
  return Array.from({ length: n }, (_, i) => Math.sqrt(Math.max(0, g[i * n + i]))).sort((x, y) => y - x);
}

/** A deterministic pseudo-random normal-ish stream (sum of uniforms) for synthetic adapters. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  const u = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
  return () => u() + u() + u() - 1.5;
}

export interface SyntheticModule {
  key: string;
  out: number;
  inF: number;
}

/** Writes a PEFT adapter directory with random A [r, in] and B [out, r] for each module. */
export function writeSyntheticAdapter(
  dir: string,
  opts: { r: number; alpha: number; seed: number; modules: SyntheticModule[]; extraConfig?: Record<string, unknown> },
): void {
  mkdirSync(dir, { recursive: true });
  const next = rng(opts.seed);
  const tensors = new Map<string, Tensor>();
  for (const m of opts.modules) {
    tensors.set(`${m.key}.lora_A.weight`, { shape: [opts.r, m.inF], data: Float32Array.from({ length: opts.r * m.inF }, next) });
    tensors.set(`${m.key}.lora_B.weight`, { shape: [m.out, opts.r], data: Float32Array.from({ length: m.out * opts.r }, next) });
  }
  writeSafetensorsF32(join(dir, 'adapter_model.safetensors'), tensors);
  const config = {
    peft_type: 'LORA',
    r: opts.r,
    lora_alpha: opts.alpha,
    target_modules: [...new Set(opts.modules.map((m) => m.key.split('.').pop()))],
    use_rslora: false,
    base_model_name_or_path: 'synthetic',
    ...opts.extraConfig,
  };
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify(config, null, 2));
}
