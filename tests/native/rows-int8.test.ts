// The int8 decoding mode's products (native/src/decode/rows_int8: int8 compute) on every body this CPU can run (the
// AVX512-VNNI body under avx512 on a CPU with VNNI, the AVX2 body under avx2 (and avx512 without VNNI), the scalar
// reference under scalar; forced like PEFT_ISA; the scalar body is exact integer math in a fixed lane order): NF4
// tiles decode to the code book's int8 levels, inputs quantise per 32 values, the products equal the float64 value of
// the same quantised math, stay within the a-priori bound of the quantisation from the fp32 product, are bit-identical
// across bodies and for a row alone or among others; the int8 lm_head product likewise.
import { describe, expect, it } from 'vitest';
import { testAddon } from './addon.ts';
import { isaInfo, runnableIsas, uniform } from './isa-paths.ts';

const k = testAddon.kernels;
const bodyOf = (isa: string) => (k.setIsa(isa), k.int8Body() as string);
const bodies = new Map(runnableIsas.map((i) => [i, bodyOf(i)]));
k.setIsa(isaInfo.isa);
/** One ISA per distinct int8 body (avx512 runs the AVX2 body on a CPU without AVX512-VNNI). */
const isas = runnableIsas.filter((i, n) => runnableIsas.findIndex((j) => bodies.get(j) === bodies.get(i)) === n);
const vnniSkip = !runnableIsas.includes('avx512')
  ? 'no avx512 path on this CPU or build'
  : bodies.get('avx512') !== 'avx512vnni'
    ? 'the CPU has no AVX512-VNNI (or the build has no avx512vnni unit): avx512 runs the AVX2 body'
    : '';

type Q8 = { q: Int8Array; d: Float32Array };
/** Where value i sits in the int8 arrays: within each 32, the even-indexed values first, then the odd ones. */
const pos = (i: number) => i - (i % 32) + (i % 2) * 16 + Math.floor((i % 32) / 2);

/** The float64 value of the quantised product and the bound of its distance to the unquantised one, per output. */
function reference(wq: Q8, xq: Q8, W: Float32Array, x: Float32Array, T: number, out: number, inn: number) {
  const ref = new Float64Array(T * out),
    mag = new Float64Array(T * out),
    bound = new Float64Array(T * out);
  const nc = inn / 32;
  for (let t = 0; t < T; t++)
    for (let o = 0; o < out; o++) {
      let s = 0,
        m = 0,
        b = 0;
      for (let j = 0; j < nc; j++) {
        const dw = wq.d[o * nc + j],
          dx = xq.d[t * nc + j];
        let dot = 0;
        for (let i = 32 * j; i < 32 * j + 32; i++) {
          dot += wq.q[o * inn + pos(i)] * xq.q[t * inn + pos(i)];
          // |w x - w' x'| <= |w - w'| |x| + |w'| |x - x'|, with |w - w'| <= dw / 2, |x - x'| <= dx / 2
          b += (dw / 2) * Math.abs(x[t * inn + i]) + (Math.abs(W[o * inn + i]) + dw / 2) * (dx / 2);
        }
        s += dw * dx * dot;
        m += Math.abs(dw * dx * dot);
      }
      ref[t * out + o] = s;
      mag[t * out + o] = m;
      bound[t * out + o] = b;
    }
  return { ref, mag, bound };
}

function fp64(W: Float32Array, x: Float32Array, T: number, out: number, inn: number): Float64Array {
  const y = new Float64Array(T * out);
  for (let t = 0; t < T; t++)
    for (let o = 0; o < out; o++) {
      let s = 0;
      for (let i = 0; i < inn; i++) s += W[o * inn + i] * x[t * inn + i];
      y[t * out + o] = s;
    }
  return y;
}

const SHAPES = [
  [37, 64, 1],
  [33, 192, 7],
  [18, 1536, 16],
  [5, 128, 33],
] as const;

describe.each(isas)('int8 decode products on the %s path', (isa) => {
  it(`runs the ${bodies.get(isa)} body`, () => expect(bodyOf(isa)).toBe(bodies.get(isa)));

  it('the NF4 code book as int8 levels round(code * 127); a tile decodes to levels within half a step of the weights', () => {
    k.setIsa(isa);
    const code = k.nf4Code() as Float32Array;
    expect(Array.from(k.nf4Int8Levels() as Int8Array)).toEqual(Array.from(code, (c) => Math.round(c * 127)));
    const out = 24,
      inn = 96; // 96: 32-input chunks in every position of a 64-weight block
    const h = k.frozenLinear({ w: uniform(out * inn, 3, 0.05), out, in: inn, storage: 'nf4' });
    const W = k.frozenLinearDequantize(h) as Float32Array;
    const t = k.nf4Int8Tile(h) as Q8;
    let worst = 0;
    for (let i = 0; i < out * inn; i++) {
      const d = t.d[Math.floor(i / 32)];
      expect(Math.abs(t.q[i])).toBeLessThanOrEqual(127);
      worst = Math.max(worst, Math.abs(t.q[pos(i)] * d - W[i]) / d);
    }
    expect(worst).toBeGreaterThan(0.2); // the levels round (NF4 codes are not multiples of 1/127)
    expect(worst).toBeLessThanOrEqual(0.5 + 1e-4);
  });

  it('inputs quantise per 32 values: |q d - x| <= d / 2, the chunk absmax at +-127, zeros to zero', () => {
    k.setIsa(isa);
    const x = uniform(32 * 5, 8, 3);
    x.fill(0, 64, 96); // an all-zero chunk
    const { q, d } = k.quantizeQ8(x) as Q8;
    expect(d[2]).toBe(0);
    for (let c = 0; c < 5; c++) {
      if (c === 2) continue;
      let mx = 0;
      for (let i = 32 * c; i < 32 * c + 32; i++) {
        expect(Math.abs(q[pos(i)] * d[c] - x[i])).toBeLessThanOrEqual(d[c] / 2 + 1e-6 * d[c]);
        mx = Math.max(mx, Math.abs(q[pos(i)]));
      }
      expect(mx).toBe(127);
    }
    expect(Array.from(q.subarray(64, 96)).every((v) => v === 0)).toBe(true);
  });

  for (const [out, inn, T] of SHAPES)
    it(`NF4 ${out}x${inn}, T ${T}: the float64 value of the quantised math within 2e-6, the fp32 product within the quantisation bound, each row as alone`, () => {
      k.setIsa(isa);
      const h = k.frozenLinear({ w: uniform(out * inn, 7 + out, 0.05), out, in: inn, storage: 'nf4' });
      const x = uniform(T * inn, 11 + T);
      const y = k.decodeRowsInt8(h, x, T) as Float32Array;
      const W = k.frozenLinearDequantize(h) as Float32Array;
      const { ref, mag, bound } = reference(k.nf4Int8Tile(h) as Q8, k.quantizeQ8(x) as Q8, W, x, T, out, inn);
      const exact = fp64(W, x, T, out, inn);
      let used = 0;
      for (let i = 0; i < T * out; i++) {
        expect(Math.abs(y[i] - ref[i])).toBeLessThanOrEqual(2e-6 * mag[i] + 1e-30);
        expect(Math.abs(y[i] - exact[i])).toBeLessThanOrEqual(bound[i] * (1 + 1e-5));
        used = Math.max(used, Math.abs(y[i] - exact[i]) / bound[i]);
      }
      expect(used).toBeGreaterThan(0); // the quantisation shows
      for (let t = 0; t < T; t++)
        expect(Array.from(k.decodeRowsInt8(h, x.subarray(t * inn, (t + 1) * inn), 1) as Float32Array), `row ${t} alone`).toEqual(
          Array.from(y.subarray(t * out, (t + 1) * out)),
        );
    });

  it('a weight with in % 32 != 0 runs the fp32 rows product; a bias is added', () => {
    k.setIsa(isa);
    const bias = uniform(32, 5);
    const h = k.frozenLinear({ w: uniform(32 * 40, 3, 0.05), bias, out: 32, in: 40, storage: 'nf4' });
    const x = uniform(6 * 40, 4);
    expect(Array.from(k.decodeRowsInt8(h, x, 6) as Float32Array)).toEqual(Array.from(k.decodeRowsLinear(h, x, 6) as Float32Array));
    const hb = k.frozenLinear({ w: uniform(16 * 64, 9, 0.05), bias: bias.subarray(0, 16), out: 16, in: 64, storage: 'nf4' });
    const hn = k.frozenLinear({ w: uniform(16 * 64, 9, 0.05), out: 16, in: 64, storage: 'nf4' });
    const xb = uniform(3 * 64, 6);
    const yb = k.decodeRowsInt8(hb, xb, 3) as Float32Array,
      yn = k.decodeRowsInt8(hn, xb, 3) as Float32Array;
    for (let i = 0; i < yb.length; i++) expect(yb[i]).toBe(Math.fround(yn[i] + bias[i % 16]));
  });

  it('the int8 lm_head product (a weight quantised per 32 inputs) equals the float64 value of its quantised math', () => {
    k.setIsa(isa);
    const out = 50,
      inn = 96,
      T = 3;
    const W = uniform(out * inn, 21, 0.1);
    const x = uniform(T * inn, 22);
    const wq = k.quantizeQ8(W) as Q8;
    const y = k.decodeRowsQ8(wq.q, wq.d, out, inn, x, T) as Float32Array;
    const { ref, mag, bound } = reference(wq, k.quantizeQ8(x) as Q8, W, x, T, out, inn);
    const exact = fp64(W, x, T, out, inn);
    for (let i = 0; i < T * out; i++) {
      expect(Math.abs(y[i] - ref[i])).toBeLessThanOrEqual(2e-6 * mag[i] + 1e-30);
      expect(Math.abs(y[i] - exact[i])).toBeLessThanOrEqual(bound[i] * (1 + 1e-5));
    }
  });
});

describe.skipIf(isas.length < 2)('int8 decode products across ISA paths', () => {
  it(`every body this CPU runs (${isas.map((i) => bodies.get(i)).join(', ')}) gives the scalar reference's numbers bit for bit`, () => {
    const out = 45,
      inn = 320,
      T = 9;
    const h = k.frozenLinear({ w: uniform(out * inn, 31, 0.05), out, in: inn, storage: 'nf4' });
    const x = uniform(T * inn, 32);
    const W = uniform(out * inn, 33, 0.1);
    const run = (isa: string) => {
      k.setIsa(isa);
      const t = k.nf4Int8Tile(h) as Q8;
      const wq = k.quantizeQ8(W) as Q8;
      return {
        tile: [Array.from(t.q), Array.from(t.d)],
        y: Array.from(k.decodeRowsInt8(h, x, T) as Float32Array),
        head: Array.from(k.decodeRowsQ8(wq.q, wq.d, out, inn, x, T) as Float32Array),
      };
    };
    const ref = run('scalar');
    for (const isa of isas.filter((i) => i !== 'scalar')) expect(run(isa), isa).toEqual(ref);
    k.setIsa(isas[0]);
  });
});

const avx2Skip = !runnableIsas.includes('avx2') ? 'no avx2 path on this CPU or build' : '';

// A vector body against the scalar reference on the edges of its blocking. The VNNI body: the direct NF4 path (T <= 3)
// and the lm_head below 4 rows reduce 16 outputs' vectors per 64 inputs; from 4 rows the products transpose 16-row
// groups in panels of 64 chunks (2048 inputs) and block the rows by 8. The AVX2 body: below 4 rows 2-row x 8-output
// blocks reduced with hadd; from 4 rows 8-row groups transposed in panels of 64 chunks, the rows blocked by 4 (and a
// tail of 1-3); its scales 8 rows x 8 blocks at a time where in % 64 == 0 (else one at a time).
const bodyCases = (isa: string, body: string, skip: string) =>
  describe.skipIf(skip !== '')(`the ${body} body${skip ? ` (skipped: ${skip})` : ''}`, () => {
    const NF4: [number, number, number][] = [
      ...SHAPES.map(([o, i, t]) => [o, i, t] as [number, number, number]),
      [45, 320, 9],
      [16, 32, 1],
      [18, 96, 2],
      [17, 128, 2],
      [6, 160, 3],
      [24, 576, 4],
      [40, 576, 5],
      [33, 64, 8],
      [31, 2112, 11], // 66 chunks: two panels
      [9, 4160, 17],
      [23, 576, 6],
      [15, 1536, 7],
      [8, 96, 12],
      [57, 576, 1], // 513 blocks: the scales cross a double-quant group of 256 blocks inside a vector
      [57, 576, 16],
      [6, 32, 4],
    ];
    const run = (isa: string, f: () => Float32Array) => (k.setIsa(isa), Array.from(f()));
    for (const [out, inn, T] of NF4)
      it(`NF4 ${out}x${inn}, T ${T}: the scalar reference's numbers bit for bit, each row as alone`, () => {
        const h = k.frozenLinear({ w: uniform(out * inn, 41 + out, 0.05), out, in: inn, storage: 'nf4' });
        const x = uniform(T * inn, 43 + T + inn);
        const ref = run('scalar', () => k.decodeRowsInt8(h, x, T) as Float32Array);
        const y = run(isa, () => k.decodeRowsInt8(h, x, T) as Float32Array);
        expect(y).toEqual(ref);
        expect(y.some((v) => v !== 0)).toBe(true);
        for (let t = 0; t < T; t++)
          expect(
            run(isa, () => k.decodeRowsInt8(h, x.subarray(t * inn, (t + 1) * inn), 1) as Float32Array),
            `row ${t} alone`,
          ).toEqual(y.slice(t * out, (t + 1) * out));
        k.setIsa(isaInfo.isa);
      });

    for (const [out, inn, T] of [
      [50, 96, 1],
      [37, 576, 2],
      [29, 320, 3],
      [21, 576, 4],
      [70, 2080, 9],
      [16, 64, 16],
      [13, 1536, 5],
      [9, 2112, 7],
      [49, 576, 4],
    ] as const)
      it(`the int8 lm_head product ${out}x${inn}, T ${T}: the scalar reference's numbers bit for bit, each row as alone`, () => {
        const W = uniform(out * inn, 51 + out, 0.1);
        const x = uniform(T * inn, 52 + inn);
        const wq = k.quantizeQ8(W) as Q8;
        const ref = run('scalar', () => k.decodeRowsQ8(wq.q, wq.d, out, inn, x, T) as Float32Array);
        const y = run(isa, () => k.decodeRowsQ8(wq.q, wq.d, out, inn, x, T) as Float32Array);
        expect(y).toEqual(ref);
        for (let t = 0; t < T; t++)
          expect(
            run(isa, () => k.decodeRowsQ8(wq.q, wq.d, out, inn, x.subarray(t * inn, (t + 1) * inn), 1) as Float32Array),
            `row ${t} alone`,
          ).toEqual(y.slice(t * out, (t + 1) * out));
        k.setIsa(isaInfo.isa);
      });

    it('its input quantiser: halves round to even, an all-zero chunk, a chunk of one value, tiny values: the same products', () => {
      const out = 16,
        inn = 128,
        T = 4;
      const h = k.frozenLinear({ w: uniform(out * inn, 61, 0.05), out, in: inn, storage: 'nf4' });
      const x = uniform(T * inn, 62);
      for (let i = 0; i < 32; i++) x[i] = i === 0 ? 127 : (i % 8) - 4 + 0.5; // x * 127 / 127: exact halves
      x.fill(0, 32, 64); // all zero
      x.fill(-3.25, 64, 96); // one value: every q at -127
      for (let i = 96; i < 128; i++) x[i] = (i - 111) * 1e-38; // subnormal-sized
      for (const rows of [1, T]) {
        const xs = x.subarray(0, rows * inn);
        expect(run(isa, () => k.decodeRowsInt8(h, xs, rows) as Float32Array)).toEqual(run('scalar', () => k.decodeRowsInt8(h, xs, rows) as Float32Array));
      }
      k.setIsa(isaInfo.isa);
    });

    it('extreme inputs (every chunk at +-127, levels at +-127): the exact dots, no saturation', () => {
      const out = 20,
        inn = 128,
        T = 5;
      // weights at the code book's ends and inputs of one sign: the largest |dot| and input sums
      const w = Float32Array.from({ length: out * inn }, (_, i) => ((i >> 3) % 3 === 0 ? -1 : 1));
      const h = k.frozenLinear({ w, out, in: inn, storage: 'nf4' });
      const x = Float32Array.from({ length: T * inn }, (_, i) => (i % 7 === 0 ? -1 : 1) * (1 + (i % 5) * 1e-3));
      for (const rows of [2, T]) {
        const xs = x.subarray(0, rows * inn);
        expect(run(isa, () => k.decodeRowsInt8(h, xs, rows) as Float32Array)).toEqual(run('scalar', () => k.decodeRowsInt8(h, xs, rows) as Float32Array));
      }
      const wq = k.quantizeQ8(w) as Q8;
      for (const rows of [1, T]) {
        const xs = x.subarray(0, rows * inn);
        expect(run(isa, () => k.decodeRowsQ8(wq.q, wq.d, out, inn, xs, rows) as Float32Array)).toEqual(
          run('scalar', () => k.decodeRowsQ8(wq.q, wq.d, out, inn, xs, rows) as Float32Array),
        );
      }
      k.setIsa(isaInfo.isa);
    });
  });

bodyCases('avx512', 'AVX512-VNNI', vnniSkip);
bodyCases('avx2', 'AVX2', avx2Skip);
