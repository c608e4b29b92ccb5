// Generation in bf16 compute reads the head from its bf16 copy over the thread pool (decode_matvec_bf16): the tokens
// are the same with one thread and with two (each output row is summed by one thread, in one order). It once failed
// with two threads: the workers looked up the caller's prepared input through a thread_local name and found their own.
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/engine/index.ts';
import { nativeEngine } from '../../src/engine/native.ts';
import { skipReason, STORIES } from './fixtures.ts';

const reason = skipReason || (nativeEngine().engineCaps().bf16Native ? '' : 'this CPU has no native bf16: bf16 compute is widened to fp32');

describe.skipIf(reason !== '')(`generation in bf16 compute on the thread pool${reason ? ` (skipped: ${reason})` : ''}`, () => {
  const ne = nativeEngine();
  const before = ne.setThreads(2);
  afterAll(() => void ne.setThreads(before));

  it('gives the same greedy tokens with two threads as with one', async () => {
    const m = await loadModel({ dir: STORIES, quant: 'none', compute: 'bf16' });
    const prompt = [1, 403, 407, 383, 294];
    const opts = { maxTokens: 16, eos: [] as number[] };
    ne.setThreads(2);
    const two = await m.generate(prompt, opts);
    ne.setThreads(1);
    const one = await m.generate(prompt, opts);
    expect(two).toHaveLength(16);
    expect(two).toEqual(one);
  });
});
