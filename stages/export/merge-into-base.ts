// Folds adapters into the base weights: W' = W + Σ weight_i · scaling_i · B_i · A_i for every module an adapter
// targets (GPT-2's Conv1D weights [in, out]: W + s·(B·A)ᵀ), float64 accumulation, float32 result: the weights a
// merged model / ONNX / merged GGUF export carries.
import type { Tensor } from '../../src/hf/safetensors.ts';
import type { FittedAdapter } from '../shared/adapter-fit.ts';

export function mergeIntoBase(base: Map<string, Tensor>, adapters: { fitted: FittedAdapter; weight: number }[]): Map<string, Tensor> {
  const out = new Map(base);
  const deltas = new Map<string, Float64Array>();
  for (const { fitted, weight } of adapters) {
    for (const m of fitted.modules) {
      const [rows, cols] = base.get(m.weight)!.shape;
      let d = deltas.get(m.weight);
      if (!d) deltas.set(m.weight, (d = new Float64Array(rows * cols)));
      const r = m.a.rows;
      const c = weight * m.scaling;
      if (m.fanInFanOut) {
        // W [in, out]: d[j, i] += c Σ_k B[i, k] A[k, j] (i over out = cols, j over in = rows)
        for (let i = 0; i < cols; i++)
          for (let k = 0; k < r; k++) {
            const bik = c * m.b.data[i * r + k];
            if (bik === 0) continue;
            const arow = k * rows;
            for (let j = 0; j < rows; j++) d[j * cols + i] += bik * m.a.data[arow + j];
          }
        continue;
      }
      for (let i = 0; i < rows; i++) {
        const row = i * cols;
        for (let k = 0; k < r; k++) {
          const bik = c * m.b.data[i * r + k];
          if (bik === 0) continue;
          const arow = k * cols;
          for (let j = 0; j < cols; j++) d[row + j] += bik * m.a.data[arow + j];
        }
      }
    }
  }
  for (const [name, d] of deltas) {
    const w = base.get(name)!;
    const data = new Float32Array(w.data.length);
    for (let i = 0; i < data.length; i++) data[i] = w.data[i] + d[i];
    out.set(name, { shape: w.shape, data });
  }
  return out;
}
