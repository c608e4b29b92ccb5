// Batched decoding's row-independent products (native/src/decode/rows_matmul, through the CPU backend) on every ISA
// path this CPU can run (avx512 / avx2 / scalar, forced like PEFT_ISA): NF4 and fp32 weights at awkward shapes equal
// the float64 product of the same (dequantized) weights, and a row's result is bit-identical whether it runs alone or
// among other rows — what makes a batched request's tokens equal the same request served alone. The bf16 mode (bf16
// compute, AVX512-BF16) equals the float64 product of the bf16-rounded weights and inputs, row-independent as well.
import { describe, expect, it } from 'vitest';
import { testAddon } from './addon.ts';
import { isaInfo, rowsRelErr, runnableIsas, uniform } from './isa-paths.ts';

const k = testAddon.kernels;
const info = isaInfo;
const runnable = runnableIsas;

const rand = uniform;
const relErr = rowsRelErr;
/** Each row of x run alone, the results stacked. */
function alone(f: (x: Float32Array, T: number) => Float32Array, x: Float32Array, T: number, inn: number, out: number): Float32Array {
  const y = new Float32Array(T * out);
  for (let t = 0; t < T; t++) y.set(f(x.subarray(t * inn, (t + 1) * inn), 1), t * out);
  return y;
}

describe.each(runnable)('decode row products on the %s path', (isa) => {
  // out not a multiple of 4 or 16 (every 1..4-output edge block); T across the 6-row (AVX-512) and 2-row (AVX2) register
  // blocks (every 1..6-row edge block); in 64-multiples (NF4) with and without 16-lane tails; T 50 at in 1536 crosses
  // the input-row chunk (42 rows on both vector paths) with a 2-row block after it, its inputs in two passes of 768
  // (AVX-512: the accumulators kept between them)
  for (const [out, inn, T] of [
    [37, 64, 1],
    [33, 192, 7],
    [18, 1536, 16],
    [5, 128, 33],
    [11, 64, 11],
    [23, 1536, 50],
  ] as const)
    it(`NF4 ${out}x${inn}, T ${T}: equals the float64 product within 2e-6 of sum|w x|, each row as when alone`, () => {
      k.setIsa(isa);
      const h = k.frozenLinear({ w: rand(out * inn, 7 + out, 0.05), out, in: inn, storage: 'nf4' });
      const x = rand(T * inn, 11 + T);
      const y = k.decodeRowsLinear(h, x, T) as Float32Array;
      expect(relErr(y, k.frozenLinearDequantize(h), x, T, out, inn)).toBeLessThan(2e-6);
      expect(Array.from(y)).toEqual(Array.from(alone((xr, n) => k.decodeRowsLinear(h, xr, n), x, T, inn, out)));
    });
  it('NF4 with blocks straddling rows (in 40) and a bias equals the product plus the bias', () => {
    k.setIsa(isa);
    const bias = rand(32, 5);
    const h = k.frozenLinear({ w: rand(32 * 40, 3, 0.05), bias, out: 32, in: 40, storage: 'nf4' });
    const x = rand(6 * 40, 4);
    const y = (k.decodeRowsLinear(h, x, 6) as Float32Array).map((v, i) => v - bias[i % 32]);
    expect(relErr(y, k.frozenLinearDequantize(h), x, 6, 32, 40)).toBeLessThan(2e-6);
  });
  // fp32: the products over every tile of the range at once; 19 x 2100 at T 40: an input-row chunk of 30 rows then 10
  // (6 + 4), 4-row weight tiles on AVX2, input passes of 704, 704 and 692 with a 4-input tail on AVX-512; 6 x 33 at
  // T 14: a 2-row block and a 1-input tail
  for (const [out, inn, T] of [
    [37, 1, 1],
    [13, 7, 5],
    [20, 100, 9],
    [3, 4167, 4],
    [19, 2100, 40],
    [6, 33, 14],
  ] as const)
    it(`fp32 ${out}x${inn}, T ${T}: equals the float64 product within 2e-6 of sum|w x|, each row as when alone`, () => {
      k.setIsa(isa);
      const w = rand(out * inn, 5 + inn);
      const x = rand(T * inn, 9 + T);
      const y = k.decodeRowsF32(w, out, inn, x, T) as Float32Array;
      expect(relErr(y, w, x, T, out, inn)).toBeLessThan(2e-6);
      expect(Array.from(y)).toEqual(Array.from(alone((xr, n) => k.decodeRowsF32(w, out, inn, xr, n), x, T, inn, out)));
    });
  // the input rows at every float offset from a 64-byte boundary: those not on one are copied to an aligned buffer
  // (out >= 64, in % 16 == 0), which must not change a bit
  it('input rows at every 4-byte offset of a cache line give the same bits (NF4 70x64 T 9, fp32 70x48 T 7)', () => {
    k.setIsa(isa);
    const h = k.frozenLinear({ w: rand(70 * 64, 21, 0.05), out: 70, in: 64, storage: 'nf4' });
    const w = rand(70 * 48, 22);
    for (const [inn, T, f] of [
      [64, 9, (x: Float32Array) => k.decodeRowsLinear(h, x, 9) as Float32Array],
      [48, 7, (x: Float32Array) => k.decodeRowsF32(w, 70, 48, x, 7) as Float32Array],
    ] as const) {
      const x = rand(T * inn, 23);
      const buf = new Float32Array(T * inn + 16);
      const ys = Array.from({ length: 16 }, (_, o) => {
        buf.set(x, o);
        return Array.from(f(buf.subarray(o, o + T * inn)));
      });
      expect(relErr(Float32Array.from(ys[0]), inn === 64 ? k.frozenLinearDequantize(h) : w, x, T, 70, inn)).toBeLessThan(2e-6);
      for (const y of ys) expect(y).toEqual(ys[0]);
    }
  });
  it('resets the ISA', () => expect(k.setIsa(info.isa)).toBe(info.isa));
});

/** x rounded to bf16 (round to nearest even), as float32 values. */
function bf16(x: Float32Array): Float32Array {
  const u = new Uint32Array(Float32Array.from(x).buffer);
  for (let i = 0; i < u.length; i++) u[i] = ((u[i] + 0x7fff + ((u[i] >>> 16) & 1)) & 0xffff0000) >>> 0;
  return new Float32Array(u.buffer);
}

const bf16Skip = !runnable.includes('avx512')
  ? 'no avx512 path on this CPU or build'
  : (k.setIsa('avx512'), k.decodeRowsBf16Available() as boolean)
    ? ''
    : 'the CPU has no AVX512-BF16 (or the build has no avx512bf16 unit)';
k.setIsa(info.isa);
describe.skipIf(bf16Skip !== '')(`decode row products in the bf16 mode (AVX512-BF16)${bf16Skip ? ` (skipped: ${bf16Skip})` : ''}`, () => {
  // the bf16 rounding of weights and inputs is the mode's definition: the reference multiplies the rounded values
  for (const [storage, out, inn, T] of [
    ['nf4', 37, 64, 1],
    ['nf4', 33, 192, 7],
    ['nf4', 18, 1536, 16],
    ['nf4', 32, 40, 6],
    ['f32', 13, 7, 5],
    ['f32', 20, 100, 9],
    ['bf16', 21, 96, 17],
  ] as const)
    it(`${storage} ${out}x${inn}, T ${T}: the product of the bf16-rounded weights and inputs within 2e-6 of sum|w x|, each row as when alone`, () => {
      k.setIsa('avx512');
      const w = rand(out * inn, 3 + out + inn, 0.05);
      const h = k.frozenLinear({ w, out, in: inn, storage });
      const x = rand(T * inn, 13 + T);
      const y = k.decodeRowsLinear(h, x, T, true) as Float32Array;
      const wq = storage === 'nf4' ? (k.frozenLinearDequantize(h) as Float32Array) : w;
      expect(relErr(y, bf16(wq), bf16(x), T, out, inn)).toBeLessThan(2e-6);
      // not the fp32 product: the inputs were rounded
      expect(relErr(y, wq, x, T, out, inn)).toBeGreaterThan(1e-5);
      expect(Array.from(y)).toEqual(Array.from(alone((xr, n) => k.decodeRowsLinear(h, xr, n, true), x, T, inn, out)));
      k.setIsa(info.isa);
    });
});
