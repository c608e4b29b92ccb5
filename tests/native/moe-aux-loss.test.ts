// The MoE router load-balancing loss (transformers' load_balancing_loss_func, Mixtral and MiniMax-M2 alike): its
// value against a float64 re-computation from the router logits of the hf-arch fixtures (padding rows excluded), the
// loss reported as cross-entropy + coef * aux with aux apart, and the gradient of that total with respect to every
// kind of LoRA parameter against central finite differences on tiny random-init MoE models.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { initModel } from '../../src/engine/init-model.ts';
import { loadModel, train, type EngineAdapter, type EngineModel } from '../../src/engine/index.ts';
import { nativeEngine, type Handle, type NativeBatch } from '../../src/engine/native.ts';
import { FIXTURES, hasAddon } from './fixtures.ts';
import { lcg, randomizeB } from './random.ts';

const ARCH = join(FIXTURES, 'hf-arch');
const skip = !hasAddon ? 'native addon not built (npm run build:native)' : !existsSync(ARCH) ? '../shared/fixtures/hf-arch is absent' : '';

/** float64 E * sum_e f_e P_e over the counted rows of all layers: p = softmax(logits), f from the top-k of p. */
function auxReference(rows: Float32Array[], E: number, K: number): number {
  const count = new Float64Array(E);
  const psum = new Float64Array(E);
  let R = 0;
  for (const z of rows) {
    const mx = Math.max(...z);
    const p = Array.from(z, (v) => Math.exp(v - mx));
    const s = p.reduce((a, b) => a + b, 0);
    for (let e = 0; e < E; e++) psum[e] += p[e] / s;
    const top = [...p.keys()].sort((a, b) => p[b] - p[a] || a - b).slice(0, K);
    for (const e of top) count[e]++;
    R++;
  }
  let out = 0;
  for (let e = 0; e < E; e++) out += (count[e] / R) * (psum[e] / R);
  return out * E;
}

const flat = (ids: number[][], labels: number[][], lengths?: number[]): NativeBatch => ({
  ids: Int32Array.from(ids.flat()),
  labels: Int32Array.from(labels.flat()),
  ...(lengths ? { lengths: Int32Array.from(lengths) } : {}),
  micro: 1,
  batch: ids.length,
  seqLen: ids[0].length,
});

async function trainerFor(m: EngineModel, adapter: EngineAdapter, routerAuxLossCoef?: number): Promise<Handle> {
  const batch = { inputIds: [[1, 2]], labels: [[1, 2]] };
  return (await train({ model: m, adapter, batches: [batch], steps: 0, lr: 0, ...(routerAuxLossCoef === undefined ? {} : { routerAuxLossCoef }) })).trainer;
}

for (const family of ['mixtral', 'minimax_m2']) {
  describe.skipIf(skip !== '')(`${family}: router load-balancing loss` + (skip ? ` (skipped: ${skip})` : ''), () => {
    it('aux value = float64 reference from the router logits (padding excluded); loss = CE + coef * aux', async () => {
      const dir = join(ARCH, family);
      const m = await loadModel({ dir: join(dir, 'hf'), quant: 'none' });
      const adapter = await m.loadAdapter(join(dir, 'lora-a'));
      const { input_ids: ids, labels } = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')).train.batch as {
        input_ids: number[][];
        labels: number[][];
      };
      const { numLayers: L, numExperts: E, expertsPerTok: K } = m.info;
      expect(m.info.routerAuxLossCoef).toBe(0); // the fixture's config.json has output_router_logits false
      const T = ids[0].length;
      const logits = await Promise.all(ids.map(async (r) => (await m.score(r, [{ adapter }], { routing: true })).routerLogits!));
      const rowsOf = (lengths: number[]) => {
        const out: Float32Array[] = []; // every layer's router logits of the real tokens
        for (let b = 0; b < ids.length; b++)
          for (let l = 0; l < L; l++) for (let t = 0; t < lengths[b]; t++) out.push(logits[b].subarray((l * T + t) * E, (l * T + t + 1) * E));
        return out;
      };
      const coef = 0.02;
      const tOff = await trainerFor(m, adapter, 0);
      const tOn = await trainerFor(m, adapter, coef);
      const off = await nativeEngine().trainerGradients(tOff, flat(ids, labels));
      expect(off.auxLoss).toBeUndefined();
      let worst = 0;
      for (const lengths of [
        [T, T],
        [T, 11],
      ]) {
        const want = auxReference(rowsOf(lengths), E, K);
        const got = await nativeEngine().trainerGradients(tOn, flat(ids, labels, lengths));
        worst = Math.max(worst, Math.abs(got.auxLoss! - want) / want);
        expect(Math.abs(got.auxLoss! - want) / want, `lengths ${lengths}: aux ${got.auxLoss} vs float64 ${want}`).toBeLessThan(1e-6);
        expect(Math.abs(got.loss - coef * got.auxLoss! - off.loss)).toBeLessThan(1e-9); // CE untouched, aux apart
      }
      const unpadded = auxReference(rowsOf([T, T]), E, K);
      expect(Math.abs(unpadded - auxReference(rowsOf([T, 11]), E, K))).toBeGreaterThan(1e-4); // the mask matters here
      console.log(`[numerics] hf-arch/${family}: router aux loss ${unpadded.toFixed(6)} (float64), engine relative diff ${worst.toExponential(2)}`);
    });

    it('gradient of CE + coef * aux w.r.t. LoRA parameters = central finite differences (padded rows masked)', async () => {
      const dir = mkdtempSync(join(tmpdir(), `peft-moe-aux-${family}-`));
      try {
        initModel(dir, {
          modelType: family as 'mixtral',
          vocabSize: 64,
          hiddenSize: 16,
          intermediateSize: 12,
          numLayers: 2,
          numHeads: 4,
          numKvHeads: 2,
          numExperts: 4,
          expertsPerTok: 2,
          seed: 11,
          initStd: 0.5,
          tokenizer: 'none',
        });
        // the coefficient from config.json, the way transformers turns the loss on
        const cfgPath = join(dir, 'config.json');
        const cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
        writeFileSync(cfgPath, JSON.stringify({ ...cfg, output_router_logits: true, router_aux_loss_coef: 0.5 }));
        const m = await loadModel({ dir, quant: 'none' });
        expect(m.info.routerAuxLossCoef).toBe(0.5);
        const a = await m.createAdapter({ r: 2, alpha: 4, targets: 'all-linear', seed: 3 });
        randomizeB(a, 4, 0.3);
        const rnd = lcg(5);
        const ids = Array.from({ length: 2 }, () => Array.from({ length: 7 }, () => 1 + Math.floor(rnd() * 63)));
        const labels = ids.map((r, b) => r.map((x, t) => (b === 1 && t >= 5 ? -100 : x)));
        const batch = flat(ids, labels, [7, 5]);
        const tOn = await trainerFor(m, a);
        const tOff = await trainerFor(m, a, 0);
        const g = await nativeEngine().trainerGradients(tOn, batch);
        const g0 = await nativeEngine().trainerGradients(tOff, batch);
        expect(g.auxLoss).toBeGreaterThan(1);
        const params = nativeEngine().adapterTensors(a.handle);
        const kinds = new Set(Object.keys(params).map((k) => k.replace(/^.*layers\.\d+\./, '').replace(/experts\.\d+\./, 'experts.*.')));
        // float32 losses: steps below ~3e-3 drown in rounding; a step that moves a token across a routing switch (the
        // loss is piecewise smooth in the choice) gives a meaningless quotient, so the better of two step sizes counts
        // (a wrong gradient fails both: dropping the softmax Jacobian's -sum p g term misses by 30 % to 150 %).
        let worst = 0,
          checked = 0;
        for (const kind of kinds) {
          // per kind, the entry whose gradient the aux term moves most: the check is about that term
          let best: { key: string; i: number; d: number } | undefined;
          for (const key of Object.keys(params))
            if (key.replace(/^.*layers\.\d+\./, '').replace(/experts\.\d+\./, 'experts.*.') === kind)
              for (let i = 0; i < params[key].length; i++) {
                const d = Math.abs(g.grads[key][i] - g0.grads[key][i]);
                if (!best || d > best.d) best = { key, i, d };
              }
          if (!best || best.d < 1e-3) continue;
          const { key, i } = best;
          const q = params[key].slice();
          const at = async (v: number) => {
            q[i] = v;
            nativeEngine().adapterSetTensor(a.handle, key, q);
            return (await nativeEngine().trainerGradients(tOn, batch)).loss;
          };
          let rel = Infinity,
            fd = Number.NaN;
          for (const h of [1e-2, 3e-3]) {
            const d = ((await at(params[key][i] + h)) - (await at(params[key][i] - h))) / (2 * h);
            const e = Math.abs(d - g.grads[key][i]) / Math.max(Math.abs(d), Math.abs(g.grads[key][i]));
            if (e < rel) (rel = e), (fd = d);
          }
          await at(params[key][i]);
          worst = Math.max(worst, rel);
          checked++;
          expect(rel, `${key}[${i}]: analytic ${g.grads[key][i]} (CE alone ${g0.grads[key][i]}) vs finite difference ${fd}`).toBeLessThan(1e-2);
        }
        expect(checked).toBeGreaterThanOrEqual(6);
        console.log(
          `[numerics] ${family} router aux loss gradient: ${checked} LoRA kinds vs finite differences, worst relative error ${worst.toExponential(2)}`,
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
