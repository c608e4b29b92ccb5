// The fused training ops against plain double-precision references, forward and backward, at awkward sizes: the
// chunked cross-entropy (fp32 path and bf16 kernel; vocab not a multiple of any chunk, ignored/padded rows, kept
// rows not a multiple of the 32-row chunk) and the blocked causal attention (fp32 and bf16; sequence lengths that
// are odd and not multiples of the 128-query block, GQA, sliding window, a cached prefix).
import { describe, expect, it } from 'vitest';
import { testAddon } from './addon.ts';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}
function rand(n: number, r: () => number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => r() * scale);
}
/** max |a - b| / max |b| */
function relMax(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0,
    m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / m;
}

function ceReference(h: Float32Array, W: Float32Array, t: Int32Array, N: number, C: number, V: number, scale: number) {
  let loss = 0;
  const dh = new Float64Array(N * C);
  const l = new Float64Array(V);
  for (let r = 0; r < N; r++) {
    if (t[r] < 0) continue;
    let mx = -Infinity;
    for (let j = 0; j < V; j++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += h[r * C + c] * W[j * C + c];
      l[j] = s;
      mx = Math.max(mx, s);
    }
    let sum = 0;
    for (let j = 0; j < V; j++) sum += Math.exp(l[j] - mx);
    const lse = mx + Math.log(sum);
    loss += lse - l[t[r]];
    for (let j = 0; j < V; j++) {
      const g = (Math.exp(l[j] - lse) - (j === t[r] ? 1 : 0)) * scale;
      for (let c = 0; c < C; c++) dh[r * C + c] += g * W[j * C + c];
    }
  }
  return { loss, dh };
}

describe('chunked cross-entropy matches the plain computation', () => {
  const N = 300,
    C = 40,
    V = 1000,
    scale = 1 / 50;
  const r = rng(7);
  const h = rand(N * C, r),
    W = rand(V * C, r, 0.5);
  // padding: a run of ignored rows at the end and scattered ignored rows; 263 rows kept: two 256-row chunks of the
  // bf16 kernel (the last one partial), five 64-row chunks of the fp32 path
  const t = Int32Array.from({ length: N }, (_, i) => (i >= 290 || i % 11 === 3 ? -1 : Math.floor(((r() + 1) / 2) * V) % V));
  const ref = ceReference(h, W, t, N, C, V, scale);

  it('fp32 path: loss and dh within 1e-5 relative', () => {
    const got = testAddon.ops.crossEntropy({ h, W, targets: t, N, C, V, gradScale: scale, backward: true, bf16: false });
    expect(Math.abs(got.loss - ref.loss) / Math.abs(ref.loss)).toBeLessThan(1e-5);
    expect(relMax(got.dh, ref.dh)).toBeLessThan(1e-5);
    for (let i = 290 * C; i < N * C; i++) expect(got.dh[i]).toBe(0); // ignored rows get no gradient
  });

  it('bf16 kernel: loss within 0.1% and dh within 1% of the largest gradient; forward-only gives the same loss', () => {
    const got = testAddon.ops.crossEntropy({ h, W, targets: t, N, C, V, gradScale: scale, backward: true, bf16: true });
    const rel = Math.abs(got.loss - ref.loss) / Math.abs(ref.loss);
    const drel = relMax(got.dh, ref.dh);
    console.log(`[fused] CE bf16: loss rel ${rel.toExponential(2)}, dh rel ${drel.toExponential(2)}`);
    expect(rel).toBeLessThan(1e-3);
    expect(drel).toBeLessThan(1e-2);
    for (let i = 290 * C; i < N * C; i++) expect(got.dh[i]).toBe(0);
    const fwd = testAddon.ops.crossEntropy({ h, W, targets: t, N, C, V, gradScale: scale, backward: false, bf16: true });
    expect(fwd.loss).toBe(got.loss);
    expect(fwd.dh).toBeUndefined();
  });

  it('bf16 kernel: the same bits with 1 and 2 threads (vocabulary slices fixed, not per thread)', () => {
    const run = (n: number) => {
      testAddon.kernels.setThreads(n);
      return testAddon.ops.crossEntropy({ h, W, targets: t, N, C, V, gradScale: scale, backward: true, bf16: true });
    };
    try {
      const one = run(1),
        two = run(2);
      expect(two.loss).toBe(one.loss);
      expect(Array.from(two.dh)).toEqual(Array.from(one.dh));
    } finally {
      testAddon.kernels.setThreads(0);
    }
  });

  it('a target outside the vocabulary is a clear error', () => {
    const bad = Int32Array.from(t);
    bad[5] = V;
    expect(() => testAddon.ops.crossEntropy({ h, W, targets: bad, N, C, V, bf16: true })).toThrow(/target 1000 at row 5/);
  });
});

describe('RMSNorm (vectorised double row sums) and the fused residual add + RMSNorm', () => {
  for (const [N, C] of [
    [7, 576],
    [5, 37],
    [3, 1],
  ] as const)
    it(`N ${N}, C ${C}: within 1 ulp-scale of a float64 reference; fused add + norm bit-identical to add then norm`, () => {
      const r = rng(N * 100 + C);
      const x = rand(N * C, r, 2),
        w = rand(C, r),
        res = rand(N * C, r, 2),
        eps = 1e-5;
      const plain = testAddon.ops.rmsnorm({ x, w, N, C, eps });
      for (let i = 0; i < N; i++) {
        let ss = 0;
        for (let c = 0; c < C; c++) ss += x[i * C + c] ** 2;
        const rs = 1 / Math.sqrt(ss / C + eps);
        expect(Math.abs(plain.rstd[i] - rs) / rs).toBeLessThan(1.2e-7);
        for (let c = 0; c < C; c++)
          expect(Math.abs(plain.out[i * C + c] - w[c] * x[i * C + c] * rs)).toBeLessThan(2.5e-7 * (Math.abs(w[c] * x[i * C + c] * rs) + 1e-30));
      }
      const fused = testAddon.ops.rmsnorm({ x, w, N, C, eps, residual: res });
      const x2 = Float32Array.from(x, (v, i) => Math.fround(v + res[i]));
      expect(Array.from(fused.x2)).toEqual(Array.from(x2));
      const sep = testAddon.ops.rmsnorm({ x: x2, w, N, C, eps });
      expect(Array.from(fused.out)).toEqual(Array.from(sep.out));
      expect(Array.from(fused.rstd)).toEqual(Array.from(sep.rstd));
    });
});

interface AttnCase {
  batch: number;
  T: number;
  pos0: number;
  nh: number;
  nkv: number;
  hd: number;
  window: number;
}

function attnReference(c: AttnCase, q: Float32Array, k: Float32Array, v: Float32Array, dout: Float32Array) {
  const { batch, T, pos0, nh, nkv, hd, window } = c,
    Tk = pos0 + T,
    qs = nh * hd,
    ks = nkv * hd,
    g = nh / nkv;
  const scale = 1 / Math.sqrt(hd);
  const out = new Float64Array(batch * T * qs),
    dq = new Float64Array(out.length);
  const dk = new Float64Array(batch * Tk * ks),
    dv = new Float64Array(dk.length);
  for (let b = 0; b < batch; b++)
    for (let h = 0; h < nh; h++) {
      const kh = Math.floor(h / g);
      for (let i = 0; i < T; i++) {
        const p = pos0 + i,
          lo = window > 0 ? Math.max(0, p - window + 1) : 0;
        const qi = (b * T + i) * qs + h * hd;
        const P: number[] = [];
        let mx = -Infinity;
        for (let j = lo; j <= p; j++) {
          let s = 0;
          for (let d = 0; d < hd; d++) s += q[qi + d] * k[(b * Tk + j) * ks + kh * hd + d];
          P.push(s * scale);
          mx = Math.max(mx, s * scale);
        }
        let sum = 0;
        for (const s of P) sum += Math.exp(s - mx);
        for (let x = 0; x < P.length; x++) P[x] = Math.exp(P[x] - mx) / sum;
        const dP: number[] = [];
        let D = 0;
        for (let x = 0; x < P.length; x++) {
          const kj = (b * Tk + lo + x) * ks + kh * hd;
          let s = 0;
          for (let d = 0; d < hd; d++) {
            out[qi + d] += P[x] * v[kj + d];
            s += dout[qi + d] * v[kj + d];
          }
          dP.push(s);
          D += P[x] * s;
        }
        for (let x = 0; x < P.length; x++) {
          const kj = (b * Tk + lo + x) * ks + kh * hd,
            dS = P[x] * (dP[x] - D) * scale;
          for (let d = 0; d < hd; d++) {
            dq[qi + d] += dS * k[kj + d];
            dk[kj + d] += dS * q[qi + d];
            dv[kj + d] += P[x] * dout[qi + d];
          }
        }
      }
    }
  return { out, dq, dk, dv };
}

describe('blocked attention matches the plain computation, forward and backward', () => {
  const cases: Array<[string, AttnCase]> = [
    ['GQA, T 300 (3 query blocks, the last partial), batch 2', { batch: 2, T: 300, pos0: 0, nh: 4, nkv: 2, hd: 8, window: 0 }],
    ['odd T 37 after a cached prefix of 5 keys, one KV head', { batch: 1, T: 37, pos0: 5, nh: 3, nkv: 1, hd: 6, window: 0 }],
    ['sliding window 50, T 261, batch 2', { batch: 2, T: 261, pos0: 0, nh: 2, nkv: 2, hd: 16, window: 50 }],
    // head_dim 64 (the trained models' size: full 16-lane vectors in the bf16 kernels), key / query blocks of 64
    // with partial last ones, GQA 3:1, a cached prefix, a window that is not a multiple of 16, odd head_dim.
    ['head_dim 64, GQA 3:1, T 203 after a cached prefix of 7 keys', { batch: 2, T: 203, pos0: 7, nh: 3, nkv: 1, hd: 64, window: 0 }],
    ['head_dim 64, sliding window 37, T 190', { batch: 1, T: 190, pos0: 0, nh: 2, nkv: 1, hd: 64, window: 37 }],
    ['odd head_dim 33, window 70 after a prefix of 20 keys, T 129', { batch: 1, T: 129, pos0: 20, nh: 2, nkv: 2, hd: 33, window: 70 }],
  ];
  for (const [name, c] of cases) {
    it(name, () => {
      const r = rng(c.T * 31 + c.nh);
      const Tk = c.pos0 + c.T;
      const q = rand(c.batch * c.T * c.nh * c.hd, r, 2),
        k = rand(c.batch * Tk * c.nkv * c.hd, r, 2);
      const v = rand(c.batch * Tk * c.nkv * c.hd, r),
        dout = rand(c.batch * c.T * c.nh * c.hd, r);
      const ref = attnReference(c, q, k, v, dout);
      const f32 = testAddon.ops.attention({ ...c, q, k, v, dout, bf16: false });
      for (const key of ['out', 'dq', 'dk', 'dv'] as const) expect(relMax(f32[key], ref[key]), `fp32 ${key}`).toBeLessThan(2e-5);
      const b16 = testAddon.ops.attention({ ...c, q, k, v, dout, bf16: true });
      const errs = (['out', 'dq', 'dk', 'dv'] as const).map((key) => [key, relMax(b16[key], ref[key])] as const);
      console.log(`[fused] attention bf16 ${name}: ${errs.map(([key, e]) => `${key} ${e.toExponential(2)}`).join(', ')}`);
      for (const [key, e] of errs) expect(e, `bf16 ${key}`).toBeLessThan(1.5e-2);
      expect(relMax(b16.lse, f32.lse)).toBeLessThan(1e-2);
    });
  }
});
