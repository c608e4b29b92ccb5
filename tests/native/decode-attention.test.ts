// Decode attention of one query row per sequence (native/src/ops/attention.cc attention_one_query, the T == 1 path
// of every generation and batched-decoding step): the scores and the weighted sum of values run through the ISA
// table (kernels/simd_body.inc) in one fixed order, so every ISA path gives the scalar path's bits; and the result is
// the softmax-weighted sum of the float64 computation within 1e-5 (GQA, a sliding window, head sizes with a tail past
// the 8-lane steps, 1 to 201 keys).
import { afterAll, describe, expect, it } from 'vitest';
import { testAddon } from './addon.ts';
import { isaInfo, runnableIsas, uniform } from './isa-paths.ts';

const { kernels: k, ops } = testAddon;
afterAll(() => k.setIsa(isaInfo.isa));

const shapes = [
  { hd: 64, nh: 9, nkv: 3, pos0: 63, batch: 3, window: 0 },
  { hd: 12, nh: 4, nkv: 2, pos0: 36, batch: 2, window: 0 },
  { hd: 64, nh: 4, nkv: 1, pos0: 200, batch: 1, window: 50 },
  { hd: 40, nh: 2, nkv: 2, pos0: 0, batch: 2, window: 0 },
];

/** out [batch, nh, hd] of one query per sequence at position pos0, in float64. */
function reference(q: Float32Array, kk: Float32Array, v: Float32Array, s: (typeof shapes)[number]): Float64Array {
  const { hd, nh, nkv, pos0, batch, window } = s;
  const Tk = pos0 + 1,
    lo = window > 0 ? Math.max(0, pos0 - window + 1) : 0;
  const out = new Float64Array(batch * nh * hd);
  for (let b = 0; b < batch; b++)
    for (let h = 0; h < nh; h++) {
      const kh = Math.floor(h / (nh / nkv));
      const sc: number[] = [];
      for (let j = lo; j < Tk; j++) {
        let d = 0;
        for (let i = 0; i < hd; i++) d += q[(b * nh + h) * hd + i] * kk[((b * Tk + j) * nkv + kh) * hd + i];
        sc.push(d / Math.sqrt(hd));
      }
      const mx = Math.max(...sc);
      const e = sc.map((x) => Math.exp(x - mx));
      const sum = e.reduce((a, x) => a + x, 0);
      for (let i = 0; i < hd; i++) {
        let o = 0;
        for (let j = lo; j < Tk; j++) o += (e[j - lo] / sum) * v[((b * Tk + j) * nkv + kh) * hd + i];
        out[(b * nh + h) * hd + i] = o;
      }
    }
  return out;
}

describe.each(runnableIsas)('decode attention (one query row) on the %s path', (isa) => {
  for (const s of shapes)
    it(`hd ${s.hd}, ${s.nh}/${s.nkv} heads, ${s.pos0 + 1} keys, window ${s.window}, ${s.batch} sequences: the scalar path's bits, the float64 result within 1e-5`, () => {
      const Tk = s.pos0 + 1;
      const q = uniform(s.batch * s.nh * s.hd, 3 + s.hd);
      const kk = uniform(s.batch * Tk * s.nkv * s.hd, 5 + Tk);
      const v = uniform(s.batch * Tk * s.nkv * s.hd, 7 + Tk);
      const run = () => ops.attention({ ...s, q, k: kk, v, T: 1, bf16: false }) as { out: Float32Array; lse: Float32Array };
      k.setIsa('scalar');
      const ref = run();
      k.setIsa(isa);
      const r = run();
      expect(Array.from(r.out)).toEqual(Array.from(ref.out));
      expect(Array.from(r.lse)).toEqual(Array.from(ref.lse));
      const want = reference(q, kk, v, s);
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(r.out[i] - want[i]));
      expect(worst).toBeLessThan(1e-5);
    });
});
