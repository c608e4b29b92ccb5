// fp32 GEMM test helpers: seeded inputs, the float64 reference with its per-element magnitude, the relative error.
import { expect } from 'vitest';

export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296 - 0.5;
  };
}
export function randArray(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r() * 2 * scale;
  return a;
}
/** Approximately normal values (sum of 4 uniforms), like trained weights. */
export function normalArray(n: number, seed: number, std: number): Float32Array {
  const r = rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (r() + r() + r() + r()) * std * Math.sqrt(3);
  return a;
}

export interface Gemm {
  transA: boolean;
  transB: boolean;
  M: number;
  N: number;
  K: number;
  alpha: number;
  beta: number;
  lda: number;
  ldb: number;
  ldc: number;
}
/** C = alpha op(A) op(B) + beta C in float64, and sum |a||b| per element (for error bounds). */
export function refGemm(g: Gemm, A: ArrayLike<number>, B: ArrayLike<number>, C0: Float32Array): { C: Float64Array; mag: Float64Array } {
  const C = new Float64Array(C0.length),
    mag = new Float64Array(C0.length);
  for (let i = 0; i < g.M; i++)
    for (let j = 0; j < g.N; j++) {
      let s = 0,
        m = 0;
      for (let p = 0; p < g.K; p++) {
        const a = g.transA ? A[p * g.lda + i] : A[i * g.lda + p];
        const b = g.transB ? B[j * g.ldb + p] : B[p * g.ldb + j];
        s += a * b;
        m += Math.abs(a * b);
      }
      const c = C0[i * g.ldc + j];
      C[i * g.ldc + j] = g.alpha * s + (g.beta === 0 ? 0 : g.beta * c);
      mag[i * g.ldc + j] = Math.abs(g.alpha) * m + (g.beta === 0 ? 0 : Math.abs(g.beta * c));
    }
  return { C, mag };
}
export function shapeOf(transA: boolean, transB: boolean, M: number, N: number, K: number, pad: number, alpha: number, beta: number): Gemm {
  return { transA, transB, M, N, K, alpha, beta, lda: (transA ? M : K) + pad, ldb: (transB ? K : N) + pad, ldc: N + pad };
}
export function buffers(g: Gemm, seed: number) {
  const A = randArray(g.transA ? g.K * g.lda : g.M * g.lda, seed);
  const B = randArray(g.transB ? g.N * g.ldb : g.K * g.ldb, seed + 1);
  const C = randArray(g.M * g.ldc, seed + 2);
  if (g.beta === 0) C.fill(Number.NaN); // beta = 0 must overwrite, never propagate what was there
  return { A, B, C };
}
/** Max over elements of |got - want| / (mag + 1e-30), and checks untouched padding columns of C. */
export function relErr(g: Gemm, got: Float32Array, want: Float64Array, mag: Float64Array, C0: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < g.M; i++)
    for (let j = 0; j < g.ldc; j++) {
      const x = i * g.ldc + j;
      if (j >= g.N) {
        expect(Object.is(got[x], C0[x]) || (Number.isNaN(got[x]) && Number.isNaN(C0[x]))).toBe(true);
        continue;
      }
      worst = Math.max(worst, Math.abs(got[x] - want[x]) / (mag[x] + 1e-30));
    }
  return worst;
}
