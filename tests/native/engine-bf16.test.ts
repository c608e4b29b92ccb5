// bf16 compute mode (matmuls with bf16 inputs, fp32 accumulation; norms, softmax, loss, LoRA and AdamW in fp32):
// training stories260K on real text follows the fp32 run step by step (loss within 2% relative) and ends at the same
// validation loss within 1%.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { evalLoss, loadModel, packCausalLM, train } from '../../src/engine/index.ts';
import { STORIES, TINYSTORIES, skipReason } from './fixtures.ts';

describe.skipIf(skipReason !== '')('bf16 compute mode' + (skipReason ? ` (skipped: ${skipReason})` : ''), () => {
  it('100 training steps track fp32 within 2% per step and 1% final validation loss', async () => {
    const lines = readFileSync(join(TINYSTORIES, 'tinystories.txt'), 'utf8')
      .split('\n')
      .filter((l) => l.trim());
    const results: Record<string, { losses: number[]; valid: number }> = {};
    for (const compute of ['fp32', 'bf16'] as const) {
      const m = await loadModel({ dir: STORIES, quant: 'none', compute });
      expect(m.info.compute).toBe(compute);
      expect(m.info.kernels).toMatch(compute === 'fp32' ? /^fp32: every matmul fp32 sgemm/ : /^bf16/); // named for logs and metadata
      const docs = lines.map((l) => m.tokenizer.encode(l, { special: true }));
      const batches = packCausalLM(docs.slice(0, 400), 64, 4, 3);
      const valid = packCausalLM(docs.slice(-80), 64, 4, 4).slice(0, 4);
      const adapter = await m.createAdapter({ r: 8, alpha: 16, targets: 'all-linear', seed: 5 });
      const res = await train({ model: m, adapter, batches, steps: 100, lr: 2e-3, schedule: 'cosine', warmupSteps: 5, maxGradNorm: 1, weightDecay: 0.01 });
      const v = await evalLoss(res.trainer, valid);
      results[compute] = { losses: res.records.map((r) => r.loss), valid: v.reduce((a, b) => a + b, 0) / v.length };
    }
    const f = results.fp32,
      b = results.bf16;
    const worst = Math.max(...f.losses.map((l, i) => Math.abs(b.losses[i] - l) / l));
    const validRel = Math.abs(b.valid - f.valid) / f.valid;
    console.log(
      `[bf16] worst per-step loss rel diff ${worst.toExponential(2)}, validation ${f.valid.toFixed(4)} (fp32) vs ${b.valid.toFixed(4)} (bf16), rel ${validRel.toExponential(2)}`,
    );
    expect(worst).toBeLessThan(0.02);
    expect(validRel).toBeLessThan(0.01);
    expect(b.losses).not.toEqual(f.losses); // bf16 really computed differently
  });
});
