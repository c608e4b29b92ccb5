// The engine's thread pool (native/src/kernels/threads.cc): parallel_for (a contiguous chunk per thread) and
// parallel_for_dynamic (indices handed to whichever thread is free, what the decode products use) run every index
// exactly once, on both threads, nested calls inline, an index's exception back to the caller; and generation, alone
// and batched, gives the same log-probabilities bit for bit with one thread and with two (a decode row's value never
// depends on which thread computed it).
import { afterAll, describe, expect, it } from 'vitest';
import { BatchDecoder } from '../../src/engine/batch.ts';
import { loadModel } from '../../src/engine/index.ts';
import { nativeEngine } from '../../src/engine/native.ts';
import { testAddon } from './addon.ts';
import { skipReason, STORIES } from './fixtures.ts';

const k = testAddon.kernels;

describe('thread pool', () => {
  const before = k.setThreads(2);
  afterAll(() => void k.setThreads(before));

  for (const dynamic of [false, true])
    it(`${dynamic ? 'parallel_for_dynamic' : 'parallel_for'} runs each index once, on both threads, nested calls inline`, () => {
      k.setThreads(2);
      for (const n of [0, 1, 2, 3, 17, 4000]) {
        const r = k.parallelForRuns(n, dynamic);
        expect(Array.from(r.counts as Int32Array), `n ${n}`).toEqual(new Array(n).fill(1));
        expect(r.nestedInline, `n ${n}`).toBe(true);
        if (n === 4000) expect(r.threads).toBe(2);
      }
      k.setThreads(1);
      const one = k.parallelForRuns(100, dynamic);
      expect(Array.from(one.counts as Int32Array)).toEqual(new Array(100).fill(1));
      expect(one.threads).toBe(1);
    });

  for (const dynamic of [false, true])
    it(`${dynamic ? 'parallel_for_dynamic' : 'parallel_for'} rethrows an index's error on the caller and stays usable`, () => {
      k.setThreads(2);
      expect(() => k.parallelForRuns(500, dynamic, 321)).toThrow(/index 321 throws/);
      const r = k.parallelForRuns(500, dynamic);
      expect(Array.from(r.counts as Int32Array)).toEqual(new Array(500).fill(1));
    });
});

describe.skipIf(skipReason !== '')(`decoding with one thread and with two${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const ne = nativeEngine();
  const before = ne.setThreads(2);
  afterAll(() => void ne.setThreads(before));

  for (const quant of ['none', 'nf4'] as const)
    it(`${quant}, fp32 compute: generate and the batched decoder give the same log-probabilities bit for bit`, async () => {
      const m = await loadModel({ dir: STORIES, quant, compute: 'fp32' });
      const prompts = [
        [1, 403, 407, 383, 294],
        [1, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160, 170, 180, 190, 200, 210, 220],
      ];
      const opts = { maxTokens: 16, eos: [] as number[] };
      const run = async (threads: number) => {
        ne.setThreads(threads);
        const alone = [];
        for (const p of prompts) alone.push(await m.generateDetailed(p, opts));
        const dec = new BatchDecoder(m, { maxBatch: 4 });
        const batched = await Promise.all(
          [...prompts, ...prompts].map(async (prompt) => {
            const logprobs: number[] = [];
            await dec.generate({ prompt, adapters: [], ...opts }, { onToken: (t) => void logprobs.push(t.logprob) });
            return logprobs;
          }),
        );
        return { alone: alone.map((g) => Array.from(g.logprobs)), batched };
      };
      const one = await run(1);
      const two = await run(2);
      expect(two.alone).toEqual(one.alone);
      expect(two.batched).toEqual(one.batched);
      expect(one.batched.slice(0, 2)).toEqual(one.alone); // and batched = alone
    });
});
