// Finite-difference check of the backward pass: every LoRA parameter kind (q, k, v, o, gate, up, down; A and B) on a
// tiny random GQA model with a frozen adapter stacked under the trainable one; recomputation gives the same gradients.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initModel } from '../../src/engine/init-model.ts';
import { loadModel, train, type EngineAdapter, type EngineModel, type MicroBatch } from '../../src/engine/index.ts';
import { nativeEngine, type Handle } from '../../src/engine/native.ts';
import { hasAddon } from './fixtures.ts';
import { lcg, randomizeB } from './random.ts';

const KINDS = ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj'];

describe.skipIf(!hasAddon)('LoRA gradients vs finite differences (tiny random GQA model)', () => {
  let dir: string;
  let m: EngineModel;
  let trainable: EngineAdapter;
  let trainer: Handle;
  let batch: MicroBatch;
  const B = 2,
    T = 9;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'peft-grad-'));
    initModel(dir, { vocabSize: 96, hiddenSize: 32, intermediateSize: 40, numLayers: 2, numHeads: 4, numKvHeads: 2, seed: 3, initStd: 0.3, tokenizer: 'none' });
    m = await loadModel({ dir, quant: 'none' });
    const frozen = await m.createAdapter({ r: 2, alpha: 4, targets: 'all-linear', seed: 5 });
    randomizeB(frozen, 6, 0.2);
    trainable = await m.createAdapter({ r: 3, alpha: 6, targets: 'all-linear', seed: 7 });
    randomizeB(trainable, 8, 0.2);
    const rnd = lcg(9);
    const ids = Array.from({ length: B }, () => Array.from({ length: T }, () => 1 + Math.floor(rnd() * 95)));
    const labels = ids.map((r, b) => r.map((x, t) => (b === 1 && t < 3 ? -100 : x)));
    batch = { inputIds: ids, labels };
    trainer = (await train({ model: m, adapter: trainable, frozen: [{ adapter: frozen, weight: 0.7 }], batches: [batch], steps: 0, lr: 0 })).trainer;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const flat = () => ({ ids: Int32Array.from(batch.inputIds.flat()), labels: Int32Array.from(batch.labels.flat()), micro: 1, batch: B, seqLen: T });
  const loss = async () => (await nativeEngine().trainerEval(trainer, flat()))[0];

  it('every LoRA A and B gradient matches central differences (relative error < 2e-2)', async () => {
    const g = await nativeEngine().trainerGradients(trainer, flat());
    const params = nativeEngine().adapterTensors(trainable.handle);
    const h = 1e-2;
    let worst = 0;
    for (const layer of [0, 1])
      for (const kind of KINDS)
        for (const ab of ['lora_A', 'lora_B']) {
          const key = `base_model.model.model.layers.${layer}.${kind}.${ab}.weight`;
          const grad = g.grads[key];
          const p = params[key];
          expect(grad && p && grad.length === p.length).toBe(true);
          // the two largest-magnitude entries of this tensor
          const idx = Array.from(grad.keys())
            .sort((i, j) => Math.abs(grad[j]) - Math.abs(grad[i]))
            .slice(0, 2);
          for (const i of idx) {
            const orig = p[i];
            const q = p.slice();
            q[i] = orig + h;
            nativeEngine().adapterSetTensor(trainable.handle, key, q);
            const lp = await loss();
            q[i] = orig - h;
            nativeEngine().adapterSetTensor(trainable.handle, key, q);
            const lm = await loss();
            q[i] = orig;
            nativeEngine().adapterSetTensor(trainable.handle, key, q);
            const fd = (lp - lm) / (2 * h);
            const rel = Math.abs(fd - grad[i]) / Math.max(Math.abs(fd), Math.abs(grad[i]), 1e-3);
            worst = Math.max(worst, rel);
            expect(Math.abs(grad[i])).toBeGreaterThan(1e-4); // a gradient that is really there
            expect(rel, `${key}[${i}] analytic ${grad[i]} vs finite difference ${fd}`).toBeLessThan(2e-2);
          }
        }
    console.log(`[numerics] finite-difference gradient check: worst relative error ${worst.toExponential(2)}`);
  });

  it('per-layer recomputation gives bit-identical gradients', async () => {
    const g1 = await nativeEngine().trainerGradients(trainer, flat());
    const t2 = (await train({ model: m, adapter: trainable, batches: [batch], steps: 0, lr: 0, recompute: true, frozen: [] })).trainer;
    const t3 = (await train({ model: m, adapter: trainable, batches: [batch], steps: 0, lr: 0, recompute: false, frozen: [] })).trainer;
    const a = await nativeEngine().trainerGradients(t2, flat());
    const b = await nativeEngine().trainerGradients(t3, flat());
    expect(a.loss).toBe(b.loss);
    for (const k of Object.keys(b.grads)) expect(Buffer.from(a.grads[k].buffer).equals(Buffer.from(b.grads[k].buffer))).toBe(true);
    // and the frozen adapter changes the gradients (it is really in the stack)
    expect(g1.loss).not.toBe(b.loss);
  });
});
