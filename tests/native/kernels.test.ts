// Numerics of the CPU compute kernels (native/src/kernels): sgemm (linked library and built-in), bf16 GEMM, bf16
// conversion, NF4 quantization with double quantization, FrozenLinear forward / input-gradient, argument checks.
import { describe, expect, it } from 'vitest';
import { testAddon } from './addon.ts';
import { buffers, normalArray, randArray, refGemm, relErr, shapeOf } from './gemm-ref.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const k: any = testAddon.kernels;

const combos: Array<[boolean, boolean]> = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];

describe('sgemm', () => {
  for (const builtin of [false, true])
    for (const [tA, tB] of combos)
      it(`${builtin ? 'built-in' : 'linked'} transA=${tA} transB=${tB}: odd sizes, padded leading dims, alpha/beta`, () => {
        for (const [M, N, K, pad, alpha, beta] of [
          [37, 29, 53, 3, 0.7, 0.3],
          [1, 1, 1, 0, 1, 0],
          [130, 67, 300, 5, -1.5, 1],
          [13, 70, 1, 1, 2, 0],
        ] as const) {
          const g = shapeOf(tA, tB, M, N, K, pad, alpha, beta);
          const { A, B, C } = buffers(g, M + N + K);
          const C0 = C.slice();
          const { C: want, mag } = refGemm(g, A, B, C0);
          k.sgemm({ ...g, A, B, C, builtin });
          expect(relErr(g, C, want, mag, C0)).toBeLessThan(2e-6);
        }
      });

  it('built-in sgemm gives bit-identical results with 1 and 2 threads (deterministic partitioning)', () => {
    const g = shapeOf(false, true, 150, 90, 270, 0, 1, 0);
    const { A, B } = buffers(g, 9);
    const before = k.backendInfo().threads;
    k.setThreads(1);
    const c1 = k.sgemm({ ...g, A, B, C: new Float32Array(150 * 90), builtin: true });
    k.setThreads(2);
    const c2 = k.sgemm({ ...g, A, B, C: new Float32Array(150 * 90), builtin: true });
    k.setThreads(before);
    expect(Buffer.from(c1.buffer).equals(Buffer.from(c2.buffer))).toBe(true);
  });

  it('K = 0 and alpha = 0 scale C by beta', () => {
    const C = new Float32Array([1, 2, 3, 4]);
    k.sgemm({ M: 2, N: 2, K: 0, A: new Float32Array(0), B: new Float32Array(0), C, beta: 0.5, lda: 1, ldb: 2 });
    expect(Array.from(C)).toEqual([0.5, 1, 1.5, 2]);
  });
});

describe('bf16', () => {
  const bits = (u: number) => new Float32Array(new Uint32Array([u]).buffer)[0];
  it('f32ToBf16 rounds to nearest even and keeps NaN, infinities and signed zero', () => {
    const cases: Array<[number, number]> = [
      [0x3f800000, 0x3f80], // 1
      [0x3f808000, 0x3f80], // halfway, even stays
      [0x3f818000, 0x3f82], // halfway, odd rounds up
      [0x3f808001, 0x3f81], // above halfway
      [0x3f807fff, 0x3f80], // below halfway
      [0x7f7fffff, 0x7f80], // max float rounds to +inf
      [0x7f800000, 0x7f80],
      [0xff800000, 0xff80], // +-inf
      [0x80000000, 0x8000],
      [0x00000000, 0x0000], // signed zeros
      [0x00000001, 0x0000],
      [0x007fffff, 0x0080], // denormals
      [0xc0490fdb, 0xc049], // -pi
    ];
    const x = new Float32Array(cases.map(([u]) => bits(u)));
    const y = k.f32ToBf16(x);
    expect(Array.from(y)).toEqual(cases.map(([, h]) => h));
    const nans = k.f32ToBf16(new Float32Array([bits(0x7fc00000), bits(0x7f800001), bits(0xffffffff), bits(0x7fffffff)]));
    for (const h of nans) expect((h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0).toBe(true);
    expect(nans[2] & 0x8000).toBe(0x8000);
  });

  it('bf16ToF32 is exact and the round trip of every bf16 value is the identity', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const f = k.bf16ToF32(all);
    const u = new Uint32Array(f.buffer);
    for (let i = 0; i < 65536; i++) expect(u[i]).toBe(i * 65536);
    const back = k.f32ToBf16(f);
    for (let i = 0; i < 65536; i++) {
      const isNan = (i & 0x7f80) === 0x7f80 && (i & 0x7f) !== 0;
      if (isNan) expect((back[i] & 0x7f80) === 0x7f80 && (back[i] & 0x7f) !== 0).toBe(true);
      else expect(back[i]).toBe(i);
    }
  });

  for (const [tA, tB] of combos)
    it(`gemmBf16 transA=${tA} transB=${tB} matches fp32 on the bf16-rounded inputs and fp32 inputs within bf16 tolerance`, () => {
      for (const [M, N, K, pad, alpha, beta] of [
        [37, 29, 53, 3, 0.7, 0.3],
        [64, 96, 128, 0, 1, 0],
        [5, 300, 70, 2, 1, 1],
      ] as const) {
        const g = shapeOf(tA, tB, M, N, K, pad, alpha, beta);
        const { A, B, C } = buffers(g, 100 + M);
        const C0 = C.slice();
        const A16 = k.f32ToBf16(A),
          B16 = k.f32ToBf16(B);
        k.gemmBf16({ ...g, A: A16, B: B16, C });
        const rounded = refGemm(g, k.bf16ToF32(A16), k.bf16ToF32(B16), C0);
        expect(relErr(g, C, rounded.C, rounded.mag, C0)).toBeLessThan(2e-6); // fp32 accumulation of exact products
        const exact = refGemm(g, A, B, C0);
        expect(relErr(g, C, exact.C, exact.mag, C0)).toBeLessThan(2 * 2 ** -8 + 1e-6); // two bf16 roundings per product
      }
    });

  it('repeated gemmBf16 / sgemm calls split over the pool give the same bits every time (no shared-scratchpad races)', () => {
    for (const bf of [true, false]) {
      const g = shapeOf(false, true, 256, 192, 256, 0, 1, 0);
      const { A, B } = buffers(g, 77);
      const A16 = k.f32ToBf16(A),
        B16 = k.f32ToBf16(B);
      const run = () => (bf ? k.gemmBf16 : k.sgemm)({ ...g, A: bf ? A16 : A, B: bf ? B16 : B, C: new Float32Array(256 * 192) });
      const first: Float32Array = run();
      const want = refGemm(g, bf ? k.bf16ToF32(A16) : A, bf ? k.bf16ToF32(B16) : B, new Float32Array(256 * 192));
      expect(relErr(g, first, want.C, want.mag, new Float32Array(256 * 192))).toBeLessThan(2e-6);
      for (let i = 0; i < 40; i++) expect(Buffer.from(run().buffer).equals(Buffer.from(first.buffer))).toBe(true);
    }
  });

  it('reports whether bf16 runs on native kernels and names the implementation', () => {
    const info = k.backendInfo();
    expect(typeof info.bf16Native).toBe('boolean');
    expect(info.backend).toMatch(/^sgemm=\S+.* bf16=.* threads=\d+ isa=(avx512|avx2|scalar) \(cpu: [a-z0-9 ]+; built: [a-z0-9 ]+\)$/);
    if (info.bf16Native) expect(info.bf16Impl).toMatch(/bf16|amx/);
    else expect(info.bf16Impl).toBe('fallback:f32-sgemm');
  });
});

describe('NF4', () => {
  const CODE = [
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
  ];
  let maxGap = 0;
  for (let i = 1; i < 16; i++) maxGap = Math.max(maxGap, CODE[i] - CODE[i - 1]);

  it('uses the QLoRA code book exactly', () => {
    expect(Array.from(k.nf4Code())).toEqual(CODE.map(Math.fround));
  });

  for (const [rows, cols] of [
    [96, 128],
    [320, 128],
    [7, 192],
  ] as const)
    it(`quantize -> dequantize stays within the per-block bound [${rows}x${cols}], codes are nearest, <= 0.6 bytes/param`, () => {
      const w = normalArray(rows * cols, rows * 7 + cols, 0.02);
      for (let i = 0; i < 64; i++) w[64 * 3 + i] = 0; // an all-zero block
      w[1000] = 0.5; // an outlier block
      const q = k.nf4Quantize(w, rows, cols);
      const nb = (rows * cols) / 64;
      expect(q.packed.length).toBe((rows * cols) / 2);
      expect(q.absmaxQ.length).toBe(nb);
      expect(q.absmaxScale.length).toBe(Math.ceil(nb / 256));
      expect(q.bytes / (rows * cols)).toBeLessThanOrEqual(0.6);
      // double quantization: |absmax - decoded| <= half an int8 step of its 256-block, around the global mean
      const trueAm = new Float64Array(nb);
      let mean = 0;
      for (let b = 0; b < nb; b++) {
        for (let i = 0; i < 64; i++) trueAm[b] = Math.max(trueAm[b], Math.abs(w[b * 64 + i]));
        mean += trueAm[b] / nb;
      }
      expect(q.absmaxOffset).toBeCloseTo(mean, 6);
      for (let b = 0; b < nb; b++) {
        const s = q.absmaxScale[Math.floor(b / 256)];
        expect(Math.abs(trueAm[b] - q.blockAbsmax[b])).toBeLessThanOrEqual(s / 2 + 1e-7);
        const sb = Math.floor(b / 256) * 256;
        let m = 0;
        for (let c = sb; c < Math.min(nb, sb + 256); c++) m = Math.max(m, Math.abs(trueAm[c] - q.absmaxOffset));
        expect(s).toBeCloseTo(m / 127, 7);
      }
      const d = k.nf4Dequantize(q);
      for (let b = 0; b < nb; b++) {
        const a = q.blockAbsmax[b];
        const bound = a * (maxGap / 2) + Math.abs(trueAm[b] - a) + 1e-7;
        for (let i = b * 64; i < b * 64 + 64; i++) {
          expect(Math.abs(w[i] - d[i])).toBeLessThanOrEqual(bound);
          // the stored value is code * decoded absmax, and that code is the nearest one
          let best = Infinity;
          for (const c of CODE) best = Math.min(best, Math.abs(w[i] - Math.fround(c) * a));
          expect(Math.abs(w[i] - d[i])).toBeLessThanOrEqual(best + 1e-7);
        }
      }
      for (let i = 64 * 3; i < 64 * 4; i++) expect(d[i]).toBe(0);
      // bf16 dequantization is the rounding of the fp32 one; row ranges are slices of the whole
      expect(Array.from(k.nf4Dequantize(q, { bf16: true }))).toEqual(Array.from(k.f32ToBf16(d)));
      const r0 = rows > 2 ? 2 : 0,
        nr = Math.min(3, rows - r0);
      if ((r0 * cols) % 64 === 0 && ((r0 + nr) * cols) % 64 === 0)
        expect(Array.from(k.nf4Dequantize(q, { row0: r0, rows: nr }))).toEqual(Array.from(d.slice(r0 * cols, (r0 + nr) * cols)));
    });

  it('rejects sizes that are not whole blocks, non-finite weights and misaligned row ranges', () => {
    expect(() => k.nf4Quantize(new Float32Array(63), 1, 63)).toThrow(expect.objectContaining({ code: 'E_ENGINE' }));
    const w = new Float32Array(128);
    w[5] = Number.NaN;
    expect(() => k.nf4Quantize(w, 2, 64)).toThrow(/not finite/);
    const q = k.nf4Quantize(normalArray(2 * 96, 1, 1), 2, 96);
    expect(() => k.nf4Dequantize(q, { row0: 1, rows: 1 })).toThrow(/block boundary/);
    expect(() => k.nf4Dequantize({ ...q, packed: new Uint8Array(3) })).toThrow(/packed/);
  });

  it('quantizes bf16 weights (a mapped checkpoint) to the same bits as their fp32 widening, several pool tasks', () => {
    const rows = 300,
      cols = 256; // 1200 blocks: five 256-block tasks, the last one partial
    const w16 = k.f32ToBf16(normalArray(rows * cols, 11, 0.03)) as Uint16Array;
    w16[7 * 64 + 3] = 0x3f80; // 1.0: an outlier block
    const a = k.nf4Quantize(w16, rows, cols),
      b = k.nf4Quantize(k.bf16ToF32(w16), rows, cols);
    expect(a.absmaxOffset).toBe(b.absmaxOffset);
    expect(Buffer.from(a.packed).equals(Buffer.from(b.packed))).toBe(true);
    expect(Buffer.from(a.absmaxQ).equals(Buffer.from(b.absmaxQ))).toBe(true);
    expect(Array.from(a.absmaxScale)).toEqual(Array.from(b.absmaxScale));
    const bad = new Uint16Array(128);
    bad[70] = 0x7fc0; // NaN in the second block
    expect(() => k.nf4Quantize(bad, 2, 64)).toThrow(/weight 70 is not finite/);
  });
});

describe('FrozenLinear', () => {
  type St = 'f32' | 'bf16' | 'nf4';
  const round16 = (a: Float32Array) => k.bf16ToF32(k.f32ToBf16(a)) as Float32Array;
  function naiveForward(x: Float32Array, W: Float32Array, bias: Float32Array | null, T: number, out: number, inn: number) {
    const y = new Float64Array(T * out),
      mag = new Float64Array(T * out);
    for (let t = 0; t < T; t++)
      for (let o = 0; o < out; o++) {
        let s = bias ? bias[o] : 0,
          m = bias ? Math.abs(bias[o]) : 0;
        for (let i = 0; i < inn; i++) {
          s += x[t * inn + i] * W[o * inn + i];
          m += Math.abs(x[t * inn + i] * W[o * inn + i]);
        }
        y[t * out + o] = s;
        mag[t * out + o] = m;
      }
    return { y, mag };
  }
  function naiveBackward(dx0: Float32Array, dy: Float32Array, W: Float32Array, T: number, out: number, inn: number) {
    const dx = new Float64Array(T * inn),
      mag = new Float64Array(T * inn);
    for (let t = 0; t < T; t++)
      for (let i = 0; i < inn; i++) {
        let s = dx0[t * inn + i],
          m = Math.abs(dx0[t * inn + i]);
        for (let o = 0; o < out; o++) {
          s += dy[t * out + o] * W[o * inn + i];
          m += Math.abs(dy[t * out + o] * W[o * inn + i]);
        }
        dx[t * inn + i] = s;
        mag[t * inn + i] = m;
      }
    return { dx, mag };
  }
  const worst = (got: Float32Array, want: Float64Array, mag: Float64Array) => {
    let e = 0;
    for (let i = 0; i < got.length; i++) e = Math.max(e, Math.abs(got[i] - want[i]) / (mag[i] + 1e-30));
    return e;
  };

  for (const storage of ['f32', 'bf16', 'nf4'] as St[])
    for (const compute of ['fp32', 'bf16'])
      for (const withBias of [false, true])
        it(`storage ${storage}, compute ${compute}, ${withBias ? 'with' : 'no'} bias: forward and backward_input vs naive`, () => {
          const out = 96,
            inn = 128,
            T = 7;
          const w = normalArray(out * inn, 11, 0.05),
            bias = withBias ? randArray(out, 12) : null,
            x = randArray(T * inn, 13);
          const h = k.frozenLinear({ w, bias, out, in: inn, storage });
          const Wd: Float32Array = k.frozenLinearDequantize(h);
          if (storage === 'f32') expect(Array.from(Wd)).toEqual(Array.from(w));
          if (storage === 'bf16') expect(Array.from(Wd)).toEqual(Array.from(round16(w)));
          const bytes = k.frozenLinearBytes(h);
          const wBytes = bytes - (withBias ? out * 4 : 0);
          expect(wBytes).toBe(storage === 'f32' ? out * inn * 4 : storage === 'bf16' ? out * inn * 2 : k.nf4Quantize(w, out, inn).bytes);
          // In bf16 compute the kernel sees bf16(x) and bf16(W'): the reference takes the same rounded inputs.
          const xr = compute === 'bf16' ? round16(x) : x,
            Wr = compute === 'bf16' ? round16(Wd) : Wd;
          const y = k.frozenLinearForward(h, x, T, compute);
          const f = naiveForward(xr, Wr, bias, T, out, inn);
          expect(worst(y, f.y, f.mag)).toBeLessThan(2e-6);
          const dy = randArray(T * out, 14),
            dx = randArray(T * inn, 15),
            dx0 = dx.slice();
          k.frozenLinearBackward(h, dx, dy, T, compute);
          const b = naiveBackward(dx0, compute === 'bf16' ? round16(dy) : dy, Wr, T, out, inn);
          expect(worst(dx, b.dx, b.mag)).toBeLessThan(2e-6);
          if (storage === 'nf4') {
            // and the NF4 weight is close to the original (the per-block bound is tested above)
            let e = 0;
            for (let i = 0; i < w.length; i++) e = Math.max(e, Math.abs(w[i] - Wd[i]));
            expect(e).toBeLessThan(0.05 * 4 * Math.sqrt(3) * 0.16);
          }
        });

  for (const compute of ['fp32', 'bf16'])
    it(`NF4 weight larger than one tile (1000x4160, tiles of 960 rows), compute ${compute}`, () => {
      const out = 1000,
        inn = 4160,
        T = 3;
      const w = normalArray(out * inn, 21, 0.02),
        x = randArray(T * inn, 22);
      const h = k.frozenLinear({ w, out, in: inn, storage: 'nf4' });
      const Wd: Float32Array = k.frozenLinearDequantize(h);
      const xr = compute === 'bf16' ? round16(x) : x,
        Wr = compute === 'bf16' ? round16(Wd) : Wd;
      const f = naiveForward(xr, Wr, null, T, out, inn);
      expect(worst(k.frozenLinearForward(h, x, T, compute), f.y, f.mag)).toBeLessThan(4e-6);
      const dy = randArray(T * out, 23),
        dx = new Float32Array(T * inn);
      k.frozenLinearBackward(h, dx, dy, T, compute);
      const b = naiveBackward(new Float32Array(T * inn), compute === 'bf16' ? round16(dy) : dy, Wr, T, out, inn);
      expect(worst(dx, b.dx, b.mag)).toBeLessThan(4e-6);
    });

  // fp32 input gradients in the pool's row shares (T >= 64 per thread) and on one thread: where oneDNN takes the
  // products (AVX-512), the NF4 / bf16 tile is written transposed and multiplied in the x W^T form (linear.cc).
  for (const storage of ['nf4', 'bf16'])
    for (const threads of [2, 1])
      it(`backward_input fp32 of ${storage} weights 200x192, 130 rows, ${threads} thread(s): vs naive`, () => {
        const out = 200,
          inn = 192,
          T = 130;
        const w = normalArray(out * inn, 31, 0.05),
          dy = randArray(T * out, 32),
          dx = randArray(T * inn, 33),
          dx0 = dx.slice();
        const h = k.frozenLinear({ w, out, in: inn, storage });
        const Wd: Float32Array = k.frozenLinearDequantize(h);
        k.setThreads(threads);
        try {
          k.frozenLinearBackward(h, dx, dy, T, 'fp32');
        } finally {
          k.setThreads(0);
        }
        const b = naiveBackward(dx0, dy, Wd, T, out, inn);
        expect(worst(dx, b.dx, b.mag)).toBeLessThan(2e-6);
      });

  // The folded-LoRA products: extra K columns (forward) / rows (input gradient) ride along in the frozen matmul.
  // Shapes: NF4 with blocks inside rows, NF4 with blocks straddling rows (in = 40), several tiles, f32 / bf16 storage.
  for (const [storage, out, inn, ke, T] of [
    ['nf4', 96, 64, 5, 7],
    ['nf4', 32, 40, 16, 3],
    ['nf4', 1000, 4160, 16, 3],
    ['f32', 48, 72, 3, 5],
    ['bf16', 40, 64, 48, 4],
  ] as const)
    it(`folded extra operands: ${storage} ${out}x${inn}, ${ke} extra, T ${T}, match the naive product of the bf16-rounded inputs`, () => {
      const w = normalArray(out * inn, 31, 0.05),
        bias = storage === 'f32' ? randArray(out, 32) : null;
      const h = k.frozenLinear({ w, out, in: inn, storage, ...(bias ? { bias } : {}) });
      const Wd: Float32Array = k.frozenLinearDequantize(h);
      const xa = randArray(T * (inn + ke), 33),
        E = randArray(out * ke, 34, 0.1);
      const Waug = new Float32Array(out * (inn + ke));
      for (let o = 0; o < out; o++) {
        Waug.set(Wd.subarray(o * inn, (o + 1) * inn), o * (inn + ke));
        Waug.set(E.subarray(o * ke, (o + 1) * ke), o * (inn + ke) + inn);
      }
      const f = naiveForward(round16(xa), round16(Waug), bias, T, out, inn + ke);
      expect(worst(k.frozenLinearForwardAug(h, xa, T, E, ke), f.y, f.mag)).toBeLessThan(4e-6);
      const dya = randArray(T * (out + ke), 35),
        F = randArray(ke * inn, 36, 0.1),
        dx = randArray(T * inn, 37),
        dx0 = dx.slice();
      const Faug = new Float32Array((out + ke) * inn);
      Faug.set(Wd, 0);
      Faug.set(F, out * inn);
      k.frozenLinearBackwardAug(h, dx, dya, T, F, ke);
      const b = naiveBackward(dx0, round16(dya), round16(Faug), T, out + ke, inn);
      expect(worst(dx, b.dx, b.mag)).toBeLessThan(4e-6);
    });

  // The grouped input gradient (q/k/v or gate/up with the folded LoRA A rows): one stacked tile, and stacked weights
  // too big for one tile (one product per projection), overwriting or accumulating.
  for (const [outs, inn, kf, T, accumulate] of [
    [[96, 32, 32], 64, 12, 5, false],
    [[40, 24], 40, 4, 3, true],
    [[1000, 1000], 4160, 16, 2, false],
    [[1000, 1000], 4160, 16, 2, true],
  ] as const)
    it(`grouped input gradient: outputs ${outs.join('+')} x ${inn}, ${kf} extra rows, T ${T}, ${accumulate ? 'accumulating' : 'overwriting'}`, () => {
      const hs = outs.map((o, j) => k.frozenLinear({ w: normalArray(o * inn, 41 + j, 0.05), out: o, in: inn, storage: j === 1 ? 'bf16' : 'nf4' }));
      const rows = outs.reduce((a, b) => a + b, 0);
      const stacked = new Float32Array((rows + kf) * inn);
      let r0 = 0;
      hs.forEach((h, j) => {
        stacked.set(k.frozenLinearDequantize(h), r0 * inn);
        r0 += outs[j];
      });
      const F = randArray(kf * inn, 48, 0.1);
      stacked.set(F, rows * inn);
      const dya = randArray(T * (rows + kf), 49),
        dx = randArray(T * inn, 50),
        dx0 = accumulate ? dx.slice() : new Float32Array(T * inn);
      k.frozenLinearBackwardGroup(hs, dx, dya, T, F, kf, accumulate);
      const b = naiveBackward(dx0, round16(dya), round16(stacked), T, rows + kf, inn);
      expect(worst(dx, b.dx, b.mag)).toBeLessThan(4e-6);
    });

  // Decoding-sized inputs (T <= 32) take the NF4 path that decodes each block in registers (nf4_gemv) when rows are
  // whole blocks; in = 40 (blocks straddling rows) keeps the tile path.
  for (const [out, inn, T] of [
    [100, 192, 1],
    [37, 64, 32],
    [33, 4160, 5],
    [32, 40, 2],
  ] as const)
    it(`NF4 forward with ${T} input row(s), ${out}x${inn}, compute fp32, matches the naive product`, () => {
      const w = normalArray(out * inn, 61, 0.05),
        x = randArray(T * inn, 62),
        bias = randArray(out, 63);
      const h = k.frozenLinear({ w, bias, out, in: inn, storage: 'nf4' });
      const f = naiveForward(x, k.frozenLinearDequantize(h), bias, T, out, inn);
      expect(worst(k.frozenLinearForward(h, x, T, 'fp32'), f.y, f.mag)).toBeLessThan(2e-6);
    });

  it('forward writes into a caller-provided output array when given one', () => {
    const w = normalArray(64 * 64, 5, 0.1),
      x = randArray(3 * 64, 6);
    const h = k.frozenLinear({ w, out: 64, in: 64, storage: 'nf4' });
    const y = new Float32Array(3 * 64);
    expect(k.frozenLinearForward(h, x, 3, 'bf16', y)).toBe(y);
    expect(Array.from(y)).toEqual(Array.from(k.frozenLinearForward(h, x, 3, 'bf16')));
    expect(() => k.frozenLinearForward(h, x, 3, 'bf16', new Float32Array(5))).toThrow(/y has 5 elements/);
  });

  it('T = 0 is a no-op', () => {
    const h = k.frozenLinear({ w: new Float32Array(64), out: 1, in: 64, storage: 'nf4' });
    expect(k.frozenLinearForward(h, new Float32Array(0), 0, 'bf16').length).toBe(0);
  });
});

describe('argument validation', () => {
  const err = (re: RegExp) => expect.objectContaining({ code: 'E_ENGINE', message: expect.stringMatching(re) });
  const A = new Float32Array(6),
    B = new Float32Array(6),
    C = new Float32Array(4);
  it('sgemm / gemmBf16 check types, leading dimensions and lengths', () => {
    expect(() => k.sgemm({ M: 2, N: 2, K: 3, A: new Float32Array(5), B, C })).toThrow(err(/'A' has 5 elements but the shape needs 6/));
    expect(() => k.sgemm({ M: 2, N: 2, K: 3, A, B, C: new Float32Array(3) })).toThrow(err(/'C'/));
    expect(() => k.sgemm({ M: 2, N: 2, K: 3, A, B, C, lda: 2 })).toThrow(err(/lda 2 is smaller/));
    expect(() => k.sgemm({ M: 2, N: 2, K: 3, A: new Float64Array(6), B, C })).toThrow(err(/Float32Array/));
    expect(() => k.sgemm({ M: 2.5, N: 2, K: 3, A, B, C })).toThrow(err(/'M' must be an integer/));
    expect(() => k.sgemm({ M: -1, N: 2, K: 3, A, B, C })).toThrow(err(/'M'/));
    expect(() => k.sgemm({ N: 2, K: 3, A, B, C })).toThrow(err(/'M' is required/));
    expect(() => k.sgemm({ M: 2, N: 2, K: 3, A, B, C, transA: 1 })).toThrow(err(/'transA' must be a boolean/));
    expect(() => k.sgemm(A)).toThrow(err(/options object/));
    expect(() => k.gemmBf16({ M: 2, N: 2, K: 3, A, B, C })).toThrow(err(/Uint16Array/));
  });
  it('frozenLinear checks storage, shapes, handles and compute mode', () => {
    const w = new Float32Array(128);
    expect(() => k.frozenLinear({ w, out: 2, in: 64, storage: 'int8' })).toThrow(err(/storage/));
    expect(() => k.frozenLinear({ w, out: 3, in: 64, storage: 'f32' })).toThrow(err(/'w' has 128 elements but the shape needs 192/));
    expect(() => k.frozenLinear({ w: new Float32Array(6), out: 2, in: 3, storage: 'nf4' })).toThrow(err(/multiple of 64/));
    expect(() => k.frozenLinear({ w, bias: new Float32Array(3), out: 2, in: 64, storage: 'f32' })).toThrow(err(/bias/));
    const h = k.frozenLinear({ w, out: 2, in: 64, storage: 'f32' });
    expect(() => k.frozenLinearForward(h, new Float32Array(63), 1, 'fp32')).toThrow(err(/x has 63 elements/));
    expect(() => k.frozenLinearForward(h, new Float32Array(64), 1, 'fp16')).toThrow(err(/compute/));
    expect(() => k.frozenLinearForward({}, new Float32Array(64), 1, 'fp32')).toThrow(err(/handle/));
    expect(() => k.frozenLinearBackward(h, new Float32Array(64), new Float32Array(1), 1, 'fp32')).toThrow(err(/dy/));
    expect(() => k.setThreads(-1)).toThrow(err(/setThreads/));
  });
});
