// Adapter merging against PEFT's own output (merged-cat of ../shared/fixtures/peft-stories260K) and against float64
// reference deltas: cat exact, svd exact at full rank and optimal at lower rank, linear / ties / dare semantics,
// determinism for a seed, kept density fractions, and the E_ADAPTER errors.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PeftError } from '../../../src/errors.ts';
import { readSafetensors } from '../../../src/hf/safetensors.ts';
import { readPeftAdapter, type PeftAdapter } from '../../../stages/shared/adapter-io.ts';
import { mergeAdapterDirs, mergeAdapters, type MergedAdapter } from '../../../stages/composition/merge.ts';
import { magnitudePrune, randomPrune, seededUniform } from '../../../stages/composition/merge-tensor-ops.ts';
import { addScaled, delta, frob, maxAbsDiff, singularValues, writeSyntheticAdapter } from './merge-helpers.ts';

const PEFT = resolve(import.meta.dirname, '../../../../shared/fixtures/peft-stories260K');
const haveFixtures = existsSync(join(PEFT, 'merged-cat/adapter_model.safetensors'));

function mergedDelta(m: MergedAdapter, key: string): Float64Array {
  const mod = m.modules.find((x) => x.key === key)!;
  const s = (m.config.lora_alpha as number) / (m.config.r as number);
  // Round-trip through float32, as the written file stores it.
  return delta(Float32Array.from(mod.b.data), Float32Array.from(mod.a.data), mod.b.rows, m.r, mod.a.cols, s);
}

/** Σ w_i·s_i·B_i·A_i over the adapters that target `key`. */
function intended(adapters: PeftAdapter[], weights: number[], key: string): Float64Array {
  let out: Float64Array | undefined;
  adapters.forEach((ad, i) => {
    const m = ad.modules.get(key);
    if (!m) return;
    const d = delta(m.b.data, m.a.data, m.b.rows, m.a.rows, m.a.cols, m.scaling);
    out = out ? addScaled(out, d, weights[i]) : addScaled(new Float64Array(d.length), d, weights[i]);
  });
  return out!;
}

describe.skipIf(!haveFixtures)('merging the PEFT stories260K adapters (needs ../shared/fixtures/peft-stories260K)', () => {
  let a: PeftAdapter;
  let b: PeftAdapter;
  let tmp: string;
  beforeAll(() => {
    a = readPeftAdapter(join(PEFT, 'lora-a'));
    b = readPeftAdapter(join(PEFT, 'lora-b'));
    tmp = mkdtempSync(join(tmpdir(), 'peftmake-merge-'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('reads scaling and shapes as PEFT does', () => {
    expect(a.modules.size).toBe(35);
    expect(b.modules.size).toBe(10);
    const q = a.modules.get('base_model.model.model.layers.0.self_attn.q_proj')!;
    expect([q.a.rows, q.a.cols, q.b.rows, q.b.cols, q.scaling]).toEqual([8, 64, 64, 8, 2]);
    expect(b.modules.get('base_model.model.model.layers.4.self_attn.v_proj')!.scaling).toBe(2);
  });

  it('cat with weights [1.0, 0.5] reproduces PEFT merged-cat within 1e-6, written as a PEFT directory', () => {
    const out = join(tmp, 'cat');
    const merged = mergeAdapterDirs(
      [
        { adapter: a, weight: 1.0 },
        { adapter: b, weight: 0.5 },
      ],
      out,
      { method: 'cat' },
    );
    expect(readdirSync(out).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const mine = readSafetensors(join(out, 'adapter_model.safetensors'), { code: 'E_ADAPTER' }).tensors;
    const ref = readSafetensors(join(PEFT, 'merged-cat/adapter_model.safetensors'), { code: 'E_ADAPTER' }).tensors;
    expect([...mine.keys()].sort()).toEqual([...ref.keys()].sort());
    expect(mine.size).toBe(70);
    let worst = 0;
    for (const [name, t] of ref) {
      expect(mine.get(name)!.shape).toEqual(t.shape);
      worst = Math.max(worst, maxAbsDiff(mine.get(name)!.data, t.data));
    }
    expect(worst).toBeLessThanOrEqual(1e-6);
    const cfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
    const refCfg = JSON.parse(readFileSync(join(PEFT, 'merged-cat/adapter_config.json'), 'utf8'));
    expect({ r: cfg.r, lora_alpha: cfg.lora_alpha, peft_type: cfg.peft_type }).toEqual({ r: refCfg.r, lora_alpha: refCfg.lora_alpha, peft_type: 'LORA' });
    expect([...cfg.target_modules].sort()).toEqual([...refCfg.target_modules].sort());
    expect(merged.r).toBe(12);
    // ΔW = 1.0·Δa + 0.5·Δb for every module.
    for (const key of a.modules.keys()) expect(maxAbsDiff(mergedDelta(merged, key), intended([a, b], [1, 0.5], key))).toBeLessThan(1e-7);
  });

  it('svd at full rank (12) equals Σ w·s·B·A in every module', () => {
    const merged = mergeAdapters(
      [
        { adapter: a, weight: 0.7 },
        { adapter: b, weight: -1.3 },
      ],
      { method: 'svd', svdRank: 12 },
    );
    expect(merged.r).toBe(12);
    for (const key of a.modules.keys()) {
      const want = intended([a, b], [0.7, -1.3], key);
      expect(maxAbsDiff(mergedDelta(merged, key), want) / frob(want)).toBeLessThan(1e-6);
    }
  });

  it('svd at lower rank is the best rank-k approximation: error = sqrt(sum of dropped σ²)', () => {
    for (const k of [8, 4, 1]) {
      const merged = mergeAdapters(
        [
          { adapter: a, weight: 1 },
          { adapter: b, weight: 0.5 },
        ],
        { method: 'svd', ...(k === 8 ? {} : { svdRank: k }) },
      );
      expect(merged.r).toBe(k); // default rank = max(8, 4)
      for (const key of [
        'base_model.model.model.layers.0.self_attn.q_proj',
        'base_model.model.model.layers.3.self_attn.v_proj',
        'base_model.model.model.layers.2.mlp.down_proj',
      ]) {
        const want = intended([a, b], [1, 0.5], key);
        const mod = merged.modules.find((m) => m.key === key)!;
        const sv = singularValues(want, mod.b.rows, mod.a.cols);
        const dropped = Math.sqrt(sv.slice(k).reduce((s, x) => s + x * x, 0));
        const err = frob(addScaled(mergedDelta(merged, key), want, -1));
        expect(Math.abs(err - dropped)).toBeLessThan(1e-5 * frob(want));
      }
    }
    // PEFT 0.13 compatibility: scaling applied twice (w·s²) when asked.
    const quirk = mergeAdapters(
      [
        { adapter: a, weight: 1 },
        { adapter: b, weight: 0.5 },
      ],
      { method: 'svd', svdRank: 12, peftSvdScaling: true },
    );
    const key = 'base_model.model.model.layers.1.self_attn.q_proj';
    const want = intended([a, b], [2, 1], key); // s = 2 for both adapters
    expect(maxAbsDiff(mergedDelta(quirk, key), want) / frob(want)).toBeLessThan(1e-6);
  });

  it('magnitude_prune_svd at density 1 equals the exact weighted sum at full rank, the best approximation below', () => {
    const merged = mergeAdapters(
      [
        { adapter: a, weight: 1 },
        { adapter: b, weight: 0.5 },
      ],
      { method: 'magnitude_prune_svd', density: 1, svdRank: 12 },
    );
    const key = 'base_model.model.model.layers.4.self_attn.q_proj';
    const want = intended([a, b], [1, 0.5], key);
    expect(maxAbsDiff(mergedDelta(merged, key), want) / frob(want)).toBeLessThan(1e-6);
    const low = mergeAdapters(
      [
        { adapter: a, weight: 1 },
        { adapter: b, weight: 0.5 },
      ],
      { method: 'magnitude_prune_svd', density: 1, svdRank: 3 },
    );
    // k_proj is 32×64 (Gram of rows), down_proj 64×in (Gram of columns or rows by shape).
    for (const k of [
      'base_model.model.model.layers.1.self_attn.k_proj',
      'base_model.model.model.layers.1.mlp.down_proj',
      'base_model.model.model.layers.1.mlp.up_proj',
    ]) {
      const w = intended([a, b], [1, 0.5], k);
      const mod = low.modules.find((m) => m.key === k)!;
      const sv = singularValues(w, mod.b.rows, mod.a.cols);
      const dropped = Math.sqrt(sv.slice(3).reduce((t, x) => t + x * x, 0));
      expect(Math.abs(frob(addScaled(mergedDelta(low, k), w, -1)) - dropped)).toBeLessThan(1e-5 * frob(w));
    }
  });

  it('refuses linear-family methods on different ranks, naming both adapters', () => {
    const e = (() => {
      try {
        mergeAdapters(
          [
            { adapter: a, weight: 1, name: 'lora-a' },
            { adapter: b, weight: 1, name: 'lora-b' },
          ],
          { method: 'linear' },
        );
      } catch (x) {
        return x as PeftError;
      }
    })();
    expect(e).toBeInstanceOf(PeftError);
    expect(e!.code).toBe('E_ADAPTER');
    expect(e!.message).toBe('merge method "linear" needs adapters of equal rank; got lora-a r=8, lora-b r=4');
    expect(e!.details.hint).toContain('"cat"');
  });
});

describe('merge semantics on synthetic adapters', () => {
  let tmp: string;
  let x: PeftAdapter;
  let y: PeftAdapter;
  const modules = [
    { key: 'base_model.model.model.layers.0.self_attn.q_proj', out: 24, inF: 16 },
    { key: 'base_model.model.model.layers.0.mlp.up_proj', out: 40, inF: 16 },
  ];
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'peftmake-merge-syn-'));
    writeSyntheticAdapter(join(tmp, 'x'), { r: 4, alpha: 8, seed: 1, modules });
    writeSyntheticAdapter(join(tmp, 'y'), { r: 4, alpha: 4, seed: 2, modules: modules.slice(0, 1) });
    x = readPeftAdapter(join(tmp, 'x'));
    y = readPeftAdapter(join(tmp, 'y'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('linear: A and B are Σ sqrt(w·s)·A_i and Σ sqrt(w·s)·B_i (PEFT), one adapter gives w·ΔW exactly', () => {
    const merged = mergeAdapters(
      [
        { adapter: x, weight: 0.6 },
        { adapter: y, weight: 1.5 },
      ],
      { method: 'linear' },
    );
    const key = modules[0].key;
    const mx = x.modules.get(key)!;
    const my = y.modules.get(key)!;
    const cx = Math.sqrt(0.6 * 2);
    const cy = Math.sqrt(1.5 * 1);
    const got = merged.modules.find((m) => m.key === key)!;
    expect(
      maxAbsDiff(
        got.a.data,
        mx.a.data.map((v, i) => cx * v + cy * my.a.data[i]),
      ),
    ).toBeLessThan(1e-12);
    expect(
      maxAbsDiff(
        got.b.data,
        mx.b.data.map((v, i) => cx * v + cy * my.b.data[i]),
      ),
    ).toBeLessThan(1e-12);
    // up_proj only in x: sqrt(c)·A, sqrt(c)·B -> c·ΔW.
    const up = merged.modules.find((m) => m.key === modules[1].key)!;
    expect(maxAbsDiff(delta(up.b.data, up.a.data, 40, 4, 16), intended([x], [0.6], modules[1].key))).toBeLessThan(1e-12);
    expect(merged.config).toMatchObject({ r: 4, lora_alpha: 4, use_rslora: false });
    const single = mergeAdapters([{ adapter: x, weight: 0.25 }], { method: 'svd', svdRank: 1 });
    expect(single.method).toBe('linear'); // PEFT: one adapter is always linear
    expect(maxAbsDiff(mergedDelta(single, key), intended([x], [0.25], key))).toBeLessThan(1e-6);
  });

  it('ties: magnitude-pruned factors, sign elected on unweighted tensors, mean of agreeing weighted entries', () => {
    const merged = mergeAdapters(
      [
        { adapter: x, weight: 0.6 },
        { adapter: y, weight: 1.5 },
      ],
      { method: 'ties', density: 0.5 },
    );
    const key = modules[0].key;
    const w = [Math.sqrt(0.6 * 2), Math.sqrt(1.5)];
    const check = (tx: Float64Array, ty: Float64Array, got: Float64Array) => {
      const px = magnitudePrune(tx, 0.5);
      const py = magnitudePrune(ty, 0.5);
      expect(px.filter((v) => v !== 0).length).toBe(Math.floor(0.5 * tx.length));
      for (let i = 0; i < got.length; i++) {
        const major = px[i] + py[i] >= 0 ? 1 : -1;
        const agree = [px[i], py[i]].map((v, t) => (Math.sign(v) === major ? w[t] * v : null)).filter((v) => v !== null) as number[];
        const want = agree.length ? agree.reduce((s, v) => s + v, 0) / agree.length : 0;
        expect(got[i]).toBeCloseTo(want, 12);
      }
    };
    const got = merged.modules.find((m) => m.key === key)!;
    check(x.modules.get(key)!.a.data, y.modules.get(key)!.a.data, got.a.data);
    check(x.modules.get(key)!.b.data, y.modules.get(key)!.b.data, got.b.data);
    // Entries of the top half by magnitude survive in a single-adapter module as-is (x only: up_proj).
    const again = mergeAdapters(
      [
        { adapter: x, weight: 0.6 },
        { adapter: y, weight: 1.5 },
      ],
      { method: 'ties', density: 0.5 },
    );
    expect(again.modules.map((m) => Array.from(m.a.data))).toEqual(merged.modules.map((m) => Array.from(m.a.data)));
  });

  it('dare_linear: deterministic for a seed, different for another, density 1 equals linear', () => {
    const run = (seed: number, density = 0.3) =>
      mergeAdapters(
        [
          { adapter: x, weight: 0.6 },
          { adapter: y, weight: 1.5 },
        ],
        { method: 'dare_linear', density, seed },
      );
    const r1 = run(7);
    const r2 = run(7);
    const r3 = run(8);
    expect(Array.from(r1.modules[0].a.data)).toEqual(Array.from(r2.modules[0].a.data));
    expect(maxAbsDiff(r1.modules[0].a.data, r3.modules[0].a.data)).toBeGreaterThan(0);
    const lin = mergeAdapters(
      [
        { adapter: x, weight: 0.6 },
        { adapter: y, weight: 1.5 },
      ],
      { method: 'linear' },
    );
    const full = run(7, 1);
    for (let i = 0; i < lin.modules.length; i++) expect(maxAbsDiff(full.modules[i].b.data, lin.modules[i].b.data)).toBeLessThan(1e-12);
    const ties1 = mergeAdapters(
      [
        { adapter: x, weight: 0.6 },
        { adapter: y, weight: 1.5 },
      ],
      { method: 'dare_ties', density: 0.3, seed: 7 },
    );
    expect(ties1.modules.length).toBe(2);
  });

  it('DARE keeps the density fraction (Bernoulli, within 4σ) and rescales kept entries by 1/density', () => {
    const n = 20000;
    const xs = Float64Array.from({ length: n }, (_, i) => 1 + (i % 7));
    for (const d of [0.1, 0.5, 0.9]) {
      const out = randomPrune(xs, d, seededUniform(3, 'test'));
      const kept = out.filter((v) => v !== 0).length;
      expect(Math.abs(kept / n - d)).toBeLessThan(4 * Math.sqrt((d * (1 - d)) / n));
      out.forEach((v, i) => v !== 0 && expect(v).toBeCloseTo(xs[i] / d, 12));
    }
    const v = Float64Array.from([0.5, -3, 2, -0.1, 1]);
    expect(Array.from(magnitudePrune(v, 0.6))).toEqual([0, -3, 2, 0, 1]); // floor(0.6·5) = 3 largest |x|
    expect(Array.from(magnitudePrune(v, 0.5))).toEqual([0, -3, 2, 0, 0]); // floor(2.5) = 2
    expect(Array.from(magnitudePrune(v, 0))).toEqual([0, 0, 0, 0, 0]);
  });

  it('bad input: mismatched modules, negative weights for linear, missing density, broken adapter dirs', () => {
    const errOf = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e as PeftError;
      }
      throw new Error('expected an error');
    };
    writeSyntheticAdapter(join(tmp, 'other-base'), { r: 4, alpha: 4, seed: 3, modules: [{ key: modules[0].key, out: 24, inF: 32 }] });
    const mism = errOf(() =>
      mergeAdapters(
        [
          { adapter: x, weight: 1, name: 'x' },
          { adapter: join(tmp, 'other-base'), weight: 1, name: 'z' },
        ],
        { method: 'cat' },
      ),
    );
    expect(mism.code).toBe('E_ADAPTER');
    expect(mism.message).toBe(
      `adapters x and z disagree on module "${modules[0].key}": [out 24, in 16] vs [out 24, in 32]; they were trained on different base models`,
    );
    const neg = errOf(() =>
      mergeAdapters(
        [
          { adapter: x, weight: -1, name: 'x' },
          { adapter: y, weight: 1, name: 'y' },
        ],
        { method: 'linear' },
      ),
    );
    expect(neg.message).toContain('takes √(weight × scaling), but adapter x has weight -1 × scaling 2 < 0');
    const dens = errOf(() =>
      mergeAdapters(
        [
          { adapter: x, weight: 1 },
          { adapter: y, weight: 1 },
        ],
        { method: 'ties' },
      ),
    );
    expect(dens.message).toBe('merge method "ties" needs a density (the fraction of entries kept, 0 to 1)');
    expect(
      errOf(() =>
        mergeAdapters(
          [
            { adapter: x, weight: 1 },
            { adapter: y, weight: 1 },
          ],
          { method: 'dare_linear', density: 1.5 },
        ),
      ).message,
    ).toBe('density must be between 0 and 1 (got 1.5)');
    expect(
      errOf(() =>
        mergeAdapters(
          [
            { adapter: x, weight: 1 },
            { adapter: y, weight: 1 },
          ],
          { method: 'avg' as never },
        ),
      ).message,
    ).toContain('unknown merge method "avg"');
    const missing = errOf(() => readPeftAdapter(join(tmp, 'nope')));
    expect(missing.message).toBe(`${join(tmp, 'nope')}: no adapter_config.json (not a PEFT adapter folder)`);
    writeSyntheticAdapter(join(tmp, 'dora'), { r: 4, alpha: 4, seed: 4, modules, extraConfig: { use_dora: true } });
    expect(errOf(() => readPeftAdapter(join(tmp, 'dora'))).message).toContain(
      'adapter_config.json#/use_dora: DoRA adapters (use_dora: true) are not supported',
    );
    writeSyntheticAdapter(join(tmp, 'wrong-r'), { r: 4, alpha: 4, seed: 5, modules, extraConfig: { r: 8 } });
    expect(errOf(() => readPeftAdapter(join(tmp, 'wrong-r'))).message).toContain('expected [8, in] and [out, 8] for r = 8');
  });
});
