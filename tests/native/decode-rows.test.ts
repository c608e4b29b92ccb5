// The decoding products (native/src/kernels/decode_rows.h, what generation runs below 32 rows) on every kernel ISA
// path this CPU can run: NF4 decoded in registers and fp32 rows, with a bias, equal the float64 product within
// 2e-6 of sum|w x|, and a row's result is the same bit for bit whether it is computed alone or beside other rows.
import { afterAll, describe, expect, it } from 'vitest';
import { testAddon } from './addon.ts';
import { lcg } from './random.ts';

const k = testAddon.kernels;
const info = k.backendInfo() as { isa: string; isaCpu: string; isaBuilt: string };
const runnable = ['avx512', 'avx2', 'scalar'].filter((i) => info.isaCpu.split(' ').includes(i) && info.isaBuilt.split(' ').includes(i));

const rand = (n: number, seed: number, scale = 1) => {
  const r = lcg(seed);
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
};
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
  it('refuses NF4 weights whose blocks straddle rows (in 40) and T outside [1, 32]', () => {
    k.setIsa(isa);
    const h = k.frozenLinear({ w: rand(32 * 40, 3, 0.05), out: 32, in: 40, storage: 'nf4' });
    expect(() => k.decodeRows(h, rand(40, 1), 1)).toThrow(/neither fp32 nor NF4 with whole blocks per row/);
    const g = k.frozenLinear({ w: rand(4 * 64, 3, 0.05), out: 4, in: 64, storage: 'f32' });
    expect(() => k.decodeRows(g, rand(33 * 64, 1), 33)).toThrow(/T/);
  });
});
