// The decoding products (native/src/kernels/decode_rows.h, what generation runs below 32 rows) on every kernel ISA
// path this CPU can run: NF4 decoded in registers, fp32 rows and the bf16 copies of bf16 compute, with a bias, equal
// the float64 product within 2e-6 of sum|w x|, and a row's result is the same bit for bit whether it is computed
// alone or beside other rows.
import { afterAll, describe, expect, it } from 'vitest';
import { testAddon } from './addon.ts';
import { isaInfo, runnableIsas, uniform } from './isa-paths.ts';

const k = testAddon.kernels;
const info = isaInfo;
const runnable = runnableIsas;

const rand = uniform;
/** fp32 values rounded to bf16 (nearest, ties to even), as the engine's bf16 copies are made. */
function bf16(a: Float32Array): Float32Array {
  const u = new Uint32Array(Float32Array.from(a).buffer);
  for (let i = 0; i < u.length; i++) u[i] = ((u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 0) & 0xffff0000;
  return new Float32Array(u.buffer);
}
/** The largest |y - (x W^T + b)| / (sum_k |w x| + |b|) over all outputs, the reference in float64. */
function relErr(y: Float32Array, W: Float32Array, b: Float32Array, x: Float32Array, T: number, out: number, inn: number): number {
  let worst = 0;
  for (let t = 0; t < T; t++)
    for (let o = 0; o < out; o++) {
      let s = b[o],
        m = Math.abs(b[o]);
      for (let i = 0; i < inn; i++) {
        s += W[o * inn + i] * x[t * inn + i];
        m += Math.abs(W[o * inn + i] * x[t * inn + i]);
      }
      worst = Math.max(worst, Math.abs(y[t * out + o] - s) / (m || 1));
    }
  return worst;
}

afterAll(() => k.setIsa(info.isa));

describe.each(runnable)('decode products on the %s path', (isa) => {
  // outputs not a multiple of 4 or 16; T 1 / 5 / 31; fp32 rows with tails after the 16- and 8-wide steps
  const cases = [
    ['nf4', 37, 64, 1],
    ['nf4', 33, 192, 5],
    ['nf4', 6, 576, 31],
    ['nf4', 101, 128, 1],
    ['f32', 37, 7, 1],
    ['f32', 13, 45, 5],
    ['f32', 22, 100, 31],
    ['f32', 3, 4167, 1],
    ['f32', 9, 576, 2],
  ] as const;
  for (const [storage, out, inn, T] of cases)
    it(`${storage} ${out}x${inn} + bias, T ${T}: equals the float64 product within 2e-6; each row equals it alone`, () => {
      k.setIsa(isa);
      const bias = rand(out, 3 + out, 0.5);
      const h = k.frozenLinear({ w: rand(out * inn, 7 + out + inn, 0.05), bias, out, in: inn, storage });
      const W = k.frozenLinearDequantize(h) as Float32Array;
      const x = rand(T * inn, 11 + T);
      const y = k.decodeRows(h, x, T) as Float32Array;
      expect(relErr(y, W, bias, x, T, out, inn)).toBeLessThan(2e-6);
      for (let t = 0; t < T; t++) {
        const alone = k.decodeRows(h, x.subarray(t * inn, (t + 1) * inn), 1) as Float32Array;
        expect(Array.from(alone), `row ${t}`).toEqual(Array.from(y.subarray(t * out, (t + 1) * out)));
      }
    });
  for (const [out, inn, T] of [
    [37, 7, 1],
    [13, 45, 5],
    [3, 4167, 1],
    [9, 576, 2],
    [33, 64, 5],
  ] as const)
    it(`bf16 copy of ${out}x${inn} + bias, T ${T}: equals the float64 product of the bf16 weight within 2e-6`, () => {
      k.setIsa(isa);
      const w = rand(out * inn, 5 + inn);
      const bias = rand(out, 1 + out, 0.5);
      const h = k.frozenLinear({ w, bias, out, in: inn, storage: 'f32' });
      const x = rand(T * inn, 9 + T);
      const y = k.decodeRows(h, x, T, true) as Float32Array;
      expect(relErr(y, bf16(w), bias, x, T, out, inn)).toBeLessThan(2e-6);
      expect(relErr(y, w, bias, x, T, out, inn)).toBeGreaterThan(1e-5); // the bf16 copy was read, not the fp32 weight
    });
  it('refuses NF4 weights whose blocks straddle rows (in 40) and T outside [1, 32]', () => {
    k.setIsa(isa);
    const h = k.frozenLinear({ w: rand(32 * 40, 3, 0.05), out: 32, in: 40, storage: 'nf4' });
    expect(() => k.decodeRows(h, rand(40, 1), 1)).toThrow(/neither fp32, bf16 \(with bf16 compute\) nor NF4 with whole blocks per row/);
    const g = k.frozenLinear({ w: rand(4 * 64, 3, 0.05), out: 4, in: 64, storage: 'f32' });
    expect(() => k.decodeRows(g, rand(33 * 64, 1), 33)).toThrow(/T/);
  });
});
