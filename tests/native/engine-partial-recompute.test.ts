// Partial recomputation (activation budget): the leading layers that fit keep their activations, the rest are
// recomputed in the backward; every split gives bit-identical gradients and the planned memory grows by whole layers.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initModel } from '../../src/engine/init-model.ts';
import { loadModel, train, type EngineAdapter, type EngineModel, type MicroBatch } from '../../src/engine/index.ts';
import { nativeEngine } from '../../src/engine/native.ts';
import { hasAddon } from './fixtures.ts';
import { randomizeB } from './random.ts';

const L = 4;

describe.skipIf(!hasAddon)('partial recomputation under an activation budget (tiny random model, 4 layers)', () => {
  let dir: string;
  let m: EngineModel;
  let adapter: EngineAdapter;
  let batch: MicroBatch;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'peft-partial-'));
    initModel(dir, {
      vocabSize: 80,
      hiddenSize: 32,
      intermediateSize: 48,
      numLayers: L,
      numHeads: 4,
      numKvHeads: 2,
      seed: 11,
      initStd: 0.3,
      tokenizer: 'none',
    });
    m = await loadModel({ dir, quant: 'none', compute: 'fp32' });
    adapter = await m.createAdapter({ r: 4, alpha: 8, targets: 'all-linear', seed: 12 });
    // non-zero B so every layer's LoRA path carries gradient to the layers below
    randomizeB(adapter, 13, 0.2);
    const ids = Array.from({ length: 2 }, (_, b) => Array.from({ length: 11 }, (_, t) => 1 + ((b * 37 + t * 13) % 79)));
    batch = { inputIds: ids, labels: ids.map((r) => r.map((x, t) => (t < 2 ? -100 : x))) };
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function run(recompute: boolean, activationBudgetBytes = 0) {
    const t = (await train({ model: m, adapter, batches: [batch], steps: 0, lr: 0, recompute, activationBudgetBytes })).trainer;
    const g = await nativeEngine().trainerGradients(t, {
      ids: Int32Array.from(batch.inputIds.flat()),
      labels: Int32Array.from(batch.labels.flat()),
      micro: 1,
      batch: 2,
      seqLen: 11,
    });
    const info = nativeEngine().trainerInfo(t);
    return { g, bytes: info.activationBytes, recomputed: info.recomputedLayers };
  }

  it('keeps whole layers within the budget and gives bit-identical gradients for every split', async () => {
    const full = await run(false);
    const none = await run(true, 0);
    const perLayer = (full.bytes - none.bytes) / (L - 1);
    expect(full.recomputed).toBe(0);
    expect(none.recomputed).toBe(L - 1); // the last layer's activations are still in the shared slot
    expect(perLayer).toBeGreaterThan(0);
    expect(Number.isInteger(perLayer)).toBe(true);
    for (const slots of [1, 2, 3, 4, 10]) {
      // slots layers of activations fit (plus a fraction that must not count): slots - 1 kept + the shared slot, or all
      const r = await run(true, slots * perLayer + perLayer / 2);
      expect(r.bytes, `budget of ${slots} layers`).toBe(slots >= L ? full.bytes : none.bytes + (slots - 1) * perLayer);
      expect(r.recomputed).toBe(slots >= L ? 0 : L - slots);
      expect(r.g.loss).toBe(full.g.loss);
      for (const k of Object.keys(full.g.grads))
        expect(Buffer.from(r.g.grads[k].buffer).equals(Buffer.from(full.g.grads[k].buffer)), `${k} with ${slots} slots`).toBe(true);
    }
  });
});
