// The memory plan covers the MoE blocks: their side buffers (router scores, routed rows gathered per expert, expert
// activations, LoRA A-projections, gradients) are reserved up front for the micro-batch and counted in the planned
// bytes; a training step (LoRA dropout, load-balancing loss, recomputation) and an evaluation hold exactly the plan,
// and the plan grows with the expert count only by the [tokens, experts] router rows, never dense over the experts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { initModel } from '../../src/engine/init-model.ts';
import { loadModel, train } from '../../src/engine/index.ts';
import { nativeEngine, type NativeBatch } from '../../src/engine/native.ts';
import { hasAddon } from './fixtures.ts';

const B = 2,
  T = 9,
  L = 2;

async function planned(family: string, E: number) {
  const dir = mkdtempSync(join(tmpdir(), `peft-moe-plan-${family}-`));
  try {
    initModel(dir, {
      modelType: family as 'mixtral',
      vocabSize: 64,
      hiddenSize: 16,
      intermediateSize: 12,
      numLayers: L,
      numHeads: 4,
      numKvHeads: 2,
      numExperts: E,
      expertsPerTok: 2,
      seed: 1,
      initStd: 0.5,
      tokenizer: 'none',
    });
    const m = await loadModel({ dir, quant: 'none' });
    const adapter = await m.createAdapter({ r: 3, alpha: 6, targets: 'all-linear', seed: 2, dropout: 0.1 });
    const ids = Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => 1 + ((b * 17 + t * 5) % 63)));
    const batch: NativeBatch = { ids: Int32Array.from(ids.flat()), labels: Int32Array.from(ids.flat()), micro: 1, batch: B, seqLen: T };
    const ne = nativeEngine();
    const out: Record<string, { planned: number; held: number; activation: number }> = {};
    for (const recompute of [false, true]) {
      const { trainer } = await train({ model: m, adapter, batches: [{ inputIds: ids, labels: ids }], steps: 1, lr: 1e-3, recompute, routerAuxLossCoef: 0.1 });
      await ne.trainerGradients(trainer, batch);
      const i = ne.trainerInfo(trainer);
      out[`train${recompute ? '-recompute' : ''}`] = { planned: i.moePlannedBytes, held: i.moeHeldBytes, activation: i.activationBytes };
      await ne.trainerEval(trainer, batch);
      const e = ne.trainerInfo(trainer);
      out[`eval${recompute ? '-recompute' : ''}`] = { planned: e.moePlannedBytes, held: e.moeHeldBytes, activation: e.activationBytes };
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(!hasAddon)('MoE side buffers in the memory plan (tiny random mixtral / minimax_m2)', () => {
  for (const family of ['mixtral', 'minimax_m2'])
    it(`${family}: a step and an evaluation hold exactly the planned bytes; more experts add only router rows`, async () => {
      const small = await planned(family, 4);
      const big = await planned(family, 16);
      for (const [name, r] of Object.entries(small)) {
        expect(r.planned, name).toBeGreaterThan(0);
        expect(r.held, `${name}: held ${r.held} vs planned ${r.planned}`).toBe(r.planned);
        expect(r.activation).toBeGreaterThan(r.planned); // counted in the activation plan
        expect(big[name].held).toBe(big[name].planned);
      }
      // Training keeps, per layer, the scores and the load-balancing softmax [N, E], offsets [E + 1] and two [E]
      // float64 sums, plus one [N, E] router gradient and two [E] float64 totals; inference one layer's scores and
      // offsets. Nothing else depends on E: the routed rows are N * top-k whatever the expert count.
      const N = B * T,
        dE = 16 - 4;
      expect(big.train.planned - small.train.planned).toBe(dE * (L * (2 * N * 4 + 4 + 2 * 8) + N * 4 + 2 * 8));
      expect(big.eval.planned - small.eval.planned).toBe(dE * (N * 4 + 4));
      console.log(`[memory] ${family} MoE side buffers (N ${N}, top-2): ${JSON.stringify(small)}`);
    });
});
