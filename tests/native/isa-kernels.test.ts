// The training-path kernels of every ISA this CPU and build can run (native/src/kernels/simd_*.cc: avx512 / avx2 /
// scalar, forced with kernels.setIsa as PEFT_ISA would): each equals a float64 reference within the stated bound, and
// the element-wise ones (exp rows, SwiGLU, RMSNorm, bf16 conversion, NF4 dequantization) give the same bits on every
// ISA (explicit FMAs, fixed summation orders: simd_body.inc); the built-in sgemm (a different register block per ISA)
// is held to the reference bound only.
import { describe, expect, it } from 'vitest';
import { testAddon } from './addon.ts';
import { isaInfo, runnableIsas } from './isa-paths.ts';
import { lcg } from './random.ts';

const k = testAddon.kernels;
const info = isaInfo;
const runnable = runnableIsas;
const rand = (n: number, seed: number, lo: number, hi: number) => {
  const r = lcg(seed);
  return Float32Array.from({ length: n }, () => lo + r() * (hi - lo));
};
const worst = (n: number, err: (i: number) => number) => {
  let w = 0;
  for (let i = 0; i < n; i++) w = Math.max(w, err(i));
  return w;
};
// Runs fn on every ISA; the first one's result is the one the others must equal bit for bit.
function onEvery<T>(fn: (isa: string) => T): Map<string, T> {
  const out = new Map<string, T>();
  try {
    for (const isa of runnable) {
      k.setIsa(isa);
      out.set(isa, fn(isa));
    }
  } finally {
    k.setIsa(info.isa);
  }
  return out;
}
function sameBits(results: Map<string, unknown>) {
  const [first, ...rest] = [...results.values()];
  for (const r of rest) expect(r).toEqual(first);
}

describe(`training kernels on every ISA path (${runnable.join(', ')})`, () => {
  it('exp rows (max, sum of exp, exp * scale): within 3e-7 / 1e-6 of float64, the same bits on every ISA', () => {
    // 1013 values: 16-wide loops plus a tail; very negative values underflow to 0
    const x = rand(1013, 3, -30, 12);
    x[5] = -500;
    x[1000] = 11.99;
    const res = onEvery(() => k.simdRowExp({ x, m: 11.5, scale: 0.25 }));
    const ref = (i: number) => Math.exp(Math.fround(x[i] - 11.5)); // the kernels take x - m in float
    let max = -Infinity,
      sum = 0;
    for (let i = 0; i < x.length; i++) {
      max = Math.max(max, x[i]);
      sum += ref(i);
    }
    for (const r of res.values()) {
      expect(r.max).toBe(max);
      expect(Math.abs(r.sumexp - sum) / sum).toBeLessThan(1e-6);
      expect(worst(x.length, (i) => Math.abs(r.scaled[i] - 0.25 * ref(i)) / (0.25 * ref(i) + 1e-30))).toBeLessThan(3e-7);
      expect(r.scaled[5]).toBe(0);
    }
    sameBits(res);
  });

  it('SwiGLU forward and backward: within 1e-6 of float64 (relative to the terms), the same bits on every ISA', () => {
    const n = 2 * 4096 + 13; // two pool chunks and a tail
    const g = rand(n, 5, -9, 9),
      u = rand(n, 6, -2, 2),
      dh = rand(n, 7, -1, 1);
    const res = onEvery(() => k.simdSwiglu({ g, u, dh }));
    for (const r of res.values()) {
      const e = worst(n, (i) => {
        const x = g[i],
          sig = 1 / (1 + Math.exp(-x));
        const t = Math.abs(dh[i] * u[i] * sig) * (1 + Math.abs(x) * (1 - sig));
        return Math.max(
          Math.abs(r.h[i] - x * sig * u[i]) / (Math.abs(x * sig * u[i]) + 1e-30),
          Math.abs(r.du[i] - dh[i] * x * sig) / (Math.abs(dh[i] * x * sig) + 1e-30),
          Math.abs(r.dg[i] - dh[i] * u[i] * sig * (1 + x * (1 - sig))) / (t + 1e-30),
        );
      });
      expect(e).toBeLessThan(1e-6);
    }
    sameBits(res);
  });

  it('RMSNorm forward and backward (C 579: 32-lane loops and a tail): within 1e-6 of float64, the same bits on every ISA', () => {
    const N = 5,
      C = 579,
      eps = 1e-5;
    const x = rand(N * C, 8, -3, 3),
      w = rand(C, 9, 0.5, 1.5),
      dout = rand(N * C, 10, -1, 1);
    const res = onEvery(() => {
      const f = testAddon.ops.rmsnorm({ x, w, N, C, eps });
      return { out: f.out, rstd: f.rstd, dx: k.simdRmsnormBackward({ dout, x, w, rstd: f.rstd, N, C }) };
    });
    for (const r of res.values())
      for (let n = 0; n < N; n++) {
        let ss = 0,
          dot = 0;
        for (let c = 0; c < C; c++) ss += x[n * C + c] ** 2;
        const rs = 1 / Math.sqrt(ss / C + eps);
        for (let c = 0; c < C; c++) dot += dout[n * C + c] * w[c] * x[n * C + c];
        expect(Math.abs(r.rstd[n] - rs) / rs).toBeLessThan(1e-6);
        const kk = (r.rstd[n] ** 3 * dot) / C;
        for (let c = 0; c < C; c++) {
          const i = n * C + c;
          expect(Math.abs(r.out[i] - w[c] * x[i] * rs)).toBeLessThan(1e-6 * Math.abs(w[c] * x[i] * rs) + 1e-12);
          const ref = r.rstd[n] * dout[i] * w[c] - kk * x[i];
          expect(Math.abs(r.dx[i] - ref)).toBeLessThan(1e-6 * (Math.abs(r.rstd[n] * dout[i] * w[c]) + Math.abs(kk * x[i])));
        }
      }
    sameBits(res);
  });

  it('bf16 conversion (round to nearest even, NaN, infinities, subnormals) and NF4 dequantization: the same bits on every ISA', () => {
    const x = rand(1000, 11, -4, 4);
    x.set([Number.NaN, Infinity, -Infinity, 0, -0, 1e-40, -3e-39, 1.00390625, 1.01171875], 0);
    const w = rand(96 * 128, 12, -0.1, 0.1);
    const res = onEvery(() => {
      const b = k.f32ToBf16(x) as Uint16Array;
      const q = k.nf4Quantize(w, 96, 128);
      return { b, back: k.bf16ToF32(b), nf4: k.nf4Dequantize(q), nf4b: k.nf4Dequantize(q, { bf16: true }), q };
    });
    const r = res.get(runnable[0])!;
    const bits = new Uint32Array(x.buffer);
    for (let i = 0; i < x.length; i++) {
      const u = bits[i];
      const want = (u & 0x7fffffff) > 0x7f800000 ? (u >>> 16) | 0x40 : ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
      expect(r.b[i]).toBe(want);
    }
    expect([...r.b.slice(1, 5)]).toEqual([0x7f80, 0xff80, 0, 0x8000]);
    expect([...r.b.slice(7, 9)]).toEqual([0x3f80, 0x3f82]); // ties to even: down, then up
    const code = k.nf4Code() as Float32Array;
    const packed = r.q.packed as Uint8Array;
    for (let i = 0; i < w.length; i++) {
      const c = i % 2 ? packed[i >> 1] >> 4 : packed[i >> 1] & 15;
      expect(r.nf4[i]).toBe(Math.fround(code[c] * r.q.blockAbsmax[i >> 6]));
    }
    sameBits(res);
  });

  for (const [tA, tB, M, N, K] of [
    [false, true, 37, 53, 300],
    [true, false, 13, 70, 17],
    [false, false, 64, 33, 260],
    [true, true, 7, 5, 1],
  ] as const)
    it(`built-in sgemm ${tA ? 'T' : 'N'}${tB ? 'T' : 'N'} ${M}x${N}x${K}, beta 0.5: within 2e-6 of sum|a b| on every ISA`, () => {
      const A = rand(M * K, 13 + M, -1, 1),
        B = rand(K * N, 14 + N, -1, 1),
        C0 = rand(M * N, 15, -1, 1);
      const a = (i: number, p: number) => (tA ? A[p * M + i] : A[i * K + p]);
      const b = (p: number, j: number) => (tB ? B[j * K + p] : B[p * N + j]);
      const res = onEvery(() =>
        k.sgemm({ transA: tA, transB: tB, M, N, K, alpha: 1.5, beta: 0.5, A, lda: tA ? M : K, B, ldb: tB ? K : N, C: C0.slice(), ldc: N, builtin: true }),
      );
      for (const C of res.values())
        for (let i = 0; i < M; i++)
          for (let j = 0; j < N; j++) {
            let s = 0,
              m = 0;
            for (let p = 0; p < K; p++) {
              s += a(i, p) * b(p, j);
              m += Math.abs(a(i, p) * b(p, j));
            }
            expect(Math.abs(C[i * N + j] - (1.5 * s + 0.5 * C0[i * N + j]))).toBeLessThan(2e-6 * (1.5 * m + 0.5 * Math.abs(C0[i * N + j])) + 1e-7);
          }
    });

  it('attention softmax backward row (p (dp - D) scale, 1013 values): exact float steps, the same bits on every ISA', () => {
    const p = rand(1013, 21, 0, 1),
      dp = rand(1013, 22, -2, 2);
    const res = onEvery(() => k.simdSoftmaxBwdRow({ p, dp, D: 0.375, scale: 0.125 }));
    for (const y of res.values()) for (let i = 0; i < p.length; i++) expect(y[i]).toBe(Math.fround(Math.fround(p[i] * Math.fround(dp[i] - 0.375)) * 0.125));
    sameBits(res);
  });

  // The narrow products of attention (P V, dS K, dS^T Q, P^T dO): N a multiple of the panel, M past a 6-row block, K
  // past a 128-step block; on the ISAs without the kernel (null) sgemm runs them.
  for (const [tA, M, N, K, acc] of [
    [false, 37, 64, 300, false],
    [true, 131, 128, 129, true],
    [false, 6, 64, 1, true],
  ] as const)
    it(`narrow product ${tA ? 'T' : 'N'}N ${M}x${N}x${K}${acc ? ' + C' : ''} (strided B, C): within 2e-6 of sum|a b|, the same bits where the ISA has it`, () => {
      const lda = (tA ? M : K) + 3,
        ldb = N + 64,
        ldc = N + 5;
      const A = rand((tA ? K : M) * lda, 31 + M, -1, 1),
        B = rand(K * ldb, 32 + N, -1, 1),
        C0 = rand(M * ldc, 33, -1, 1);
      const res = onEvery(() => k.gemmNarrow({ transA: tA, M, N, K, alpha: 1.5, A, lda, B, ldb, C: C0.slice(), ldc, accumulate: acc }));
      const got = new Map([...res].filter(([, C]) => C !== null));
      if (runnable.includes('avx512')) expect(got.has('avx512')).toBe(true);
      expect(res.get('scalar') ?? null).toBeNull();
      for (const C of got.values())
        for (let i = 0; i < M; i++)
          for (let j = 0; j < ldc; j++) {
            const c0 = C0[i * ldc + j];
            if (j >= N) {
              expect(C[i * ldc + j]).toBe(c0); // outside the N columns: untouched
              continue;
            }
            let s = 0,
              m = 0;
            for (let p = 0; p < K; p++) {
              const a = tA ? A[p * lda + i] : A[i * lda + p];
              s += a * B[p * ldb + j];
              m += Math.abs(a * B[p * ldb + j]);
            }
            const want = 1.5 * s + (acc ? c0 : 0);
            expect(Math.abs(C[i * ldc + j] - want)).toBeLessThan(2e-6 * (1.5 * m + (acc ? Math.abs(c0) : 0)) + 1e-7);
          }
      sameBits(got);
    });
});
