// bf16 compute's backward (blocked bf16 attention, bf16 chunked CE, vectorised SwiGLU, LoRA A shared across q/k/v and
// gate/up) against the fp32 reference on one batch: every LoRA A and B gradient of a tiny random GQA model with a
// frozen adapter stacked under the trainable one, odd sequence length, padded labels, with and without recomputation.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initModel } from '../../src/engine/init-model.ts';
import { loadModel, train, type MicroBatch } from '../../src/engine/index.ts';
import { nativeEngine } from '../../src/engine/native.ts';
import { hasAddon } from './fixtures.ts';
import { lcg, randomizeB } from './random.ts';

const bf16 = hasAddon && nativeEngine().engineCaps().bf16Native;

/** Worst relative L2 error of the bf16 gradients against fp32 over every tensor (each non-zero in fp32), and the count. */
function compareGrads(f: Record<string, Float32Array>, b: Record<string, Float32Array>): { worst: number; n: number } {
  let worst = 0,
    n = 0;
  for (const [k, gf] of Object.entries(f)) {
    const gb = b[k];
    let d = 0,
      s = 0;
    for (let i = 0; i < gf.length; i++) {
      d += (gb[i] - gf[i]) ** 2;
      s += gf[i] ** 2;
    }
    expect(s, k).toBeGreaterThan(0);
    worst = Math.max(worst, Math.sqrt(d / s));
    if (process.env.DEBUG_GRAD) console.log(k, Math.sqrt(d / s).toExponential(2));
    n++;
  }
  return { worst, n };
}

describe.skipIf(!bf16)('bf16 gradients track fp32' + (bf16 ? '' : ' (skipped: no native bf16 matmul in this build/CPU)'), () => {
  let dir: string;
  const B = 4,
    T = 37; // 148 rows: above the 32-row bf16 threshold; T odd
  let batch: MicroBatch;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'peft-bf16grad-'));
    initModel(dir, {
      vocabSize: 200,
      hiddenSize: 64,
      intermediateSize: 96,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 2,
      seed: 3,
      initStd: 0.2,
      tokenizer: 'none',
    });
    const rnd = lcg(9);
    const ids = Array.from({ length: B }, () => Array.from({ length: T }, () => 1 + Math.floor(rnd() * 199)));
    batch = { inputIds: ids, labels: ids.map((r, b) => r.map((x, t) => (b === 1 && t > 30 ? -100 : x))) }; // padding
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function grads(compute: 'fp32' | 'bf16', recompute: boolean, dropout: number, stacked: boolean) {
    const m = await loadModel({ dir, quant: 'none', compute });
    const frozen = await m.createAdapter({ r: 2, alpha: 4, targets: 'all-linear', seed: 5 });
    randomizeB(frozen, 6, 0.2);
    const trainable = await m.createAdapter({ r: 4, alpha: 8, targets: 'all-linear', seed: 7 });
    randomizeB(trainable, 8, 0.2);
    const trainer = (
      await train({
        model: m,
        adapter: trainable,
        frozen: stacked ? [{ adapter: frozen, weight: 0.7 }] : [],
        batches: [batch],
        steps: 0,
        lr: 0,
        recompute,
        dropout,
      })
    ).trainer;
    const flat = { ids: Int32Array.from(batch.inputIds.flat()), labels: Int32Array.from(batch.labels.flat()), micro: 1, batch: B, seqLen: T };
    return nativeEngine().trainerGradients(trainer, flat);
  }

  // Every case runs the grouped bf16 LoRA products folded into the frozen matmuls; with LoRA dropout each projection's
  // A side runs on its own dropped input (the same counter-based masks in both modes).
  // Without a stacked frozen adapter (and without dropout) the backward feeds the LoRA input gradients from bf16-only
  // recomputed inputs (h, ln1, ln2, the kept attention output).
  for (const [recompute, dropout, stacked] of [
    [false, 0, true],
    [true, 0, true],
    [false, 0.1, true],
    [true, 0, false],
  ] as const)
    it(`every LoRA gradient within 6% (relative L2; measured ~4% worst, bf16 rounding of every matmul input) of fp32, loss within 0.5%${recompute ? ', with recomputation' : ''}${dropout ? `, LoRA dropout ${dropout}` : ''}${stacked ? '' : ', no frozen adapter'}`, async () => {
      const f = await grads('fp32', recompute, dropout, stacked),
        b = await grads('bf16', recompute, dropout, stacked);
      expect(Math.abs(b.loss - f.loss) / f.loss).toBeLessThan(5e-3);
      const { worst, n } = compareGrads(f.grads, b.grads);
      console.log(`[bf16-grad] ${n} tensors, worst relative L2 error ${worst.toExponential(2)}, loss ${f.loss.toFixed(5)} vs ${b.loss.toFixed(5)}`);
      expect(n).toBe(2 * 7 * 2);
      expect(worst).toBeLessThan(6e-2);
      expect(worst).toBeGreaterThan(0); // bf16 really ran
    });
});

// Awkward shapes through the bf16 paths: NF4 rows that are not whole 64-weight blocks (hidden 40, intermediate 72:
// the strided dequant's fallback), head_dim 8 with one KV head, rank 3, a partial target set (q and v only: the
// grouped LoRA falls back to per-projection products) and all-linear; 3 x 13 = 39 rows (just above the bf16 threshold).
describe.skipIf(!bf16)('bf16 gradients track fp32 at awkward shapes, NF4 base' + (bf16 ? '' : ' (skipped: no native bf16 matmul in this build/CPU)'), () => {
  let dir: string;
  const B = 3,
    T = 13;
  let batch: MicroBatch;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'peft-bf16odd-'));
    initModel(dir, {
      vocabSize: 97,
      hiddenSize: 40,
      intermediateSize: 72,
      numLayers: 2,
      numHeads: 5,
      numKvHeads: 1,
      seed: 11,
      initStd: 0.2,
      tokenizer: 'none',
    });
    const rnd = lcg(21);
    const ids = Array.from({ length: B }, () => Array.from({ length: T }, () => 1 + Math.floor(rnd() * 96)));
    batch = { inputIds: ids, labels: ids };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const targets of [['q_proj', 'v_proj'], 'all-linear'] as const)
    it(`targets ${Array.isArray(targets) ? targets.join('+') : targets}: every LoRA gradient within 6% of fp32 (relative L2)`, async () => {
      const grads = async (compute: 'fp32' | 'bf16') => {
        const m = await loadModel({ dir, quant: 'nf4', compute });
        const a = await m.createAdapter({ r: 3, alpha: 6, targets: Array.isArray(targets) ? [...targets] : 'all-linear', seed: 13 });
        randomizeB(a, 14, 0.2);
        const trainer = (await train({ model: m, adapter: a, batches: [batch], steps: 0, lr: 0 })).trainer;
        const flat = { ids: Int32Array.from(batch.inputIds.flat()), labels: Int32Array.from(batch.labels.flat()), micro: 1, batch: B, seqLen: T };
        return nativeEngine().trainerGradients(trainer, flat);
      };
      const f = await grads('fp32'),
        b = await grads('bf16');
      expect(Math.abs(b.loss - f.loss) / f.loss).toBeLessThan(5e-3);
      const { worst, n } = compareGrads(f.grads, b.grads);
      console.log(`[bf16-grad-odd] ${n} tensors, worst relative L2 error ${worst.toExponential(2)}`);
      expect(n).toBe(2 * 2 * (Array.isArray(targets) ? 2 : 7));
      expect(worst).toBeLessThan(6e-2);
      expect(worst).toBeGreaterThan(0);
    });
});
