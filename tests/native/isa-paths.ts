// What the per-ISA kernel tests share: the kernel ISA paths this CPU and build can both run, seeded uniform inputs,
// and the error measure of a batch of dot products against their float64 value.
import { testAddon } from './addon.ts';
import { lcg } from './random.ts';

export const isaInfo = testAddon.kernels.backendInfo() as { isa: string; isaCpu: string; isaBuilt: string };

/** avx512 / avx2 / scalar, in that order, where both the CPU and the build have them. */
export const runnableIsas = ['avx512', 'avx2', 'scalar'].filter((i) => isaInfo.isaCpu.split(' ').includes(i) && isaInfo.isaBuilt.split(' ').includes(i));

/** n values uniform in [-scale, scale) from lcg(seed). */
export function uniform(n: number, seed: number, scale = 1): Float32Array {
  const r = lcg(seed);
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}

/**
 * The largest |y - ref| / sum_k |w x| over all outputs of y [T, out] = x [T, inn] · W [out, inn]ᵀ (float64 reference;
 * the fp32 rounding of a dot product is a multiple of that sum).
 */
export function rowsRelErr(y: Float32Array, W: Float32Array, x: Float32Array, T: number, out: number, inn: number): number {
  let worst = 0;
  for (let t = 0; t < T; t++)
    for (let o = 0; o < out; o++) {
      let s = 0,
        m = 0;
      for (let i = 0; i < inn; i++) {
        s += W[o * inn + i] * x[t * inn + i];
        m += Math.abs(W[o * inn + i] * x[t * inn + i]);
      }
      worst = Math.max(worst, Math.abs(y[t * out + o] - s) / (m || 1));
    }
  return worst;
}
