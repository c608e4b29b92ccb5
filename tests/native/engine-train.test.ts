// Training on real text (tinystories-sample with stories260K): held-out loss goes down; an interrupted run resumed
// from its checkpoint continues the exact trajectory of an uninterrupted one; progress and AbortSignal cancellation.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evalLoss, loadModel, packCausalLM, train, type EngineModel, type MicroBatch } from '../../src/engine/index.ts';
import { nativeEngine } from '../../src/engine/native.ts';
import { STORIES, TINYSTORIES, skipReason } from './fixtures.ts';

describe.skipIf(skipReason !== '')('training on tinystories-sample' + (skipReason ? ` (skipped: ${skipReason})` : ''), () => {
  let m: EngineModel;
  let trainSet: MicroBatch[];
  let heldOut: MicroBatch[];
  let tmp: string;
  beforeAll(async () => {
    m = await loadModel({ dir: STORIES, quant: 'none' });
    const lines = readFileSync(join(TINYSTORIES, 'tinystories.txt'), 'utf8')
      .split('\n')
      .filter((l) => l.trim());
    const docs = lines.map((l) => m.tokenizer.encode(l, { special: true }));
    trainSet = packCausalLM(docs.slice(0, 300), 64, 4, 1);
    heldOut = packCausalLM(docs.slice(-60), 64, 4, 2).slice(0, 4);
    tmp = mkdtempSync(join(tmpdir(), 'peft-train-'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('lowers the held-out loss', async () => {
    const adapter = await m.createAdapter({ r: 8, alpha: 16, targets: 'all-linear', seed: 1 });
    const progress: number[] = [];
    const res = await train(
      { model: m, adapter, batches: trainSet, steps: 30, lr: 3e-3, schedule: 'cosine', warmupSteps: 3, weightDecay: 0.01, maxGradNorm: 1 },
      { onProgress: (p) => progress.push(p.step) },
    );
    const base = await m.createAdapter({ r: 8, alpha: 16, targets: 'all-linear', seed: 1 });
    const before = await evalLoss((await train({ model: m, adapter: base, batches: heldOut, steps: 0, lr: 0 })).trainer, heldOut);
    const after = await evalLoss(res.trainer, heldOut);
    const mean = (x: number[]) => x.reduce((a, b) => a + b, 0) / x.length;
    console.log(
      `[train] held-out loss ${mean(before).toFixed(4)} -> ${mean(after).toFixed(4)}; train loss ${res.records[0].loss.toFixed(4)} -> ${res.records.at(-1)!.loss.toFixed(4)}`,
    );
    expect(mean(after)).toBeLessThan(mean(before) - 0.01);
    expect(res.records.length).toBe(30);
    expect(res.records[0].lr).toBe(0); // HF warmup: step 0 runs at lr 0
    await new Promise((r) => setTimeout(r, 50));
    expect(progress.length).toBe(30);
    expect(progress.at(-1)).toBe(30);
  });

  it('an interrupted and resumed run matches the uninterrupted one exactly (with LoRA dropout)', async () => {
    const common = {
      model: m,
      batches: trainSet.slice(0, 5),
      steps: 8,
      gradAccum: 2,
      lr: 2e-3,
      schedule: 'linear' as const,
      warmupSteps: 2,
      weightDecay: 0.01,
      maxGradNorm: 1,
      dropout: 0.1,
      seed: 42,
    };
    const full = await train({ ...common, adapter: await m.createAdapter({ r: 4, targets: ['q_proj', 'v_proj', 'down_proj'], seed: 2 }) });
    // the interrupted run stops after step 3, where its checkpoint was written
    const partial = await train({
      ...common,
      adapter: await m.createAdapter({ r: 4, targets: ['q_proj', 'v_proj', 'down_proj'], seed: 2 }),
      steps: 3,
      checkpoint: { dir: join(tmp, 'ck3'), every: 3 },
    });
    expect(partial.stepsDone).toBe(3);
    expect(partial.checkpointDir).toBe(join(tmp, 'ck3', 'step-00000003'));
    const resumed = await train({ ...common, adapter: partial.adapter, resumeFrom: partial.checkpointDir });
    expect(resumed.records.map((r) => r.step)).toEqual([3, 4, 5, 6, 7]);
    expect(resumed.records.map((r) => r.loss)).toEqual(full.records.slice(3).map((r) => r.loss));
    expect(resumed.records.map((r) => r.gradNorm)).toEqual(full.records.slice(3).map((r) => r.gradNorm));
    const a = nativeEngine().adapterTensors(resumed.adapter.handle);
    const b = nativeEngine().adapterTensors(full.adapter.handle);
    for (const k of Object.keys(b)) expect(Buffer.from(a[k].buffer).equals(Buffer.from(b[k].buffer))).toBe(true);
  });

  it('cancels through an AbortSignal with E_CANCELLED', async () => {
    const ac = new AbortController();
    const adapter = await m.createAdapter({ r: 4, targets: 'all-linear', seed: 3 });
    const p = train({ model: m, adapter, batches: trainSet, steps: 1000, lr: 1e-3 }, { signal: ac.signal, onProgress: (x) => x.step >= 2 && ac.abort() });
    await expect(p).rejects.toMatchObject({ code: 'E_CANCELLED' });
  });
});
