// Batched decoding (src/engine/batch.ts over native/src/decode): 16 concurrent requests with mixed adapter stacks,
// weights, prompt lengths (short ones pooled, long ones prefilled on their own), greedy and seeded sampling, decoded
// together give exactly what each request gives alone (tokens and log-probs, bit for bit), log-probs that a full
// forward without cache (model.score) reproduces; the
// published stories260K greedy sample comes out of the batch too; each step reports the prompt rows it prefilled; in bf16 compute (AVX512-BF16) batched = alone =
// generate as well, long prompts prefilled in chunks between other sequences' steps; cancelling frees the row; bad input is refused.
import { dirname, join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type AdapterUse, type EngineAdapter, type EngineModel } from '../../src/engine/index.ts';
import { BatchDecoder, type DecodeRequest } from '../../src/engine/batch.ts';
import { nativeEngine } from '../../src/engine/native.ts';
import { mulberry32 } from '../../src/util/random.ts';
import { testAddon } from './addon.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MODEL = join(ROOT, 'models', 'stories260K');
const skip = existsSync(join(ROOT, 'native', 'build', 'Release', 'peft_engine.node')) ? '' : 'native addon not built (npm run build:native)';
const GREEDY = [432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410, 408, 419, 292];

/** An all-linear adapter with seeded non-zero A and B (a fresh PEFT adapter has B = 0 and changes nothing). */
async function randomAdapter(m: EngineModel, seed: number, r: number, targets: string[] | 'all-linear'): Promise<EngineAdapter> {
  const a = await m.createAdapter({ r, alpha: 2 * r, targets, seed, name: `rand${seed}` });
  const rnd = mulberry32(seed);
  for (const [key, t] of Object.entries(nativeEngine().adapterTensors(a.handle))) {
    const v = new Float32Array(t.length);
    for (let i = 0; i < v.length; i++) v[i] = (rnd() - 0.5) * (key.includes('lora_B') ? 0.2 : 0.5);
    nativeEngine().adapterSetTensor(a.handle, key, v);
  }
  return a;
}

async function run(dec: BatchDecoder, req: DecodeRequest): Promise<{ tokens: number[]; logprobs: number[]; finish: string }> {
  const tokens: number[] = [];
  const logprobs: number[] = [];
  const finish = await dec.generate(req, { onToken: (t) => (tokens.push(t.token), logprobs.push(t.logprob)) });
  return { tokens, logprobs, finish };
}

describe.skipIf(skip !== '')(`batched decoding${skip ? ` (skipped: ${skip})` : ''}`, () => {
  beforeAll(() => void nativeEngine().setThreads(1)); // a 260K-parameter model: pool wake-ups would cost more than the work
  for (const quant of ['none', 'nf4'] as const) {
    describe(`quant ${quant}`, () => {
      let m: EngineModel;
      let reqs: DecodeRequest[];
      beforeAll(async () => {
        m = await loadModel({ dir: MODEL, quant });
        const a = await randomAdapter(m, 1, 8, 'all-linear');
        const b = await randomAdapter(m, 2, 4, ['q_proj', 'v_proj']);
        const stacks: AdapterUse[][] = [[], [{ adapter: a }], [{ adapter: b }], [{ adapter: a, weight: 0.5 }, { adapter: b }], [{ adapter: b, weight: -1 }]];
        const rnd = mulberry32(7);
        reqs = Array.from({ length: 16 }, (_, i) => {
          const len = i % 5 === 4 ? 40 + i : 1 + Math.floor(rnd() * 20); // a few prompts longer than 32 tokens
          const prompt = [1, ...Array.from({ length: len - 1 }, () => 3 + Math.floor(rnd() * 500))];
          const sampled = i % 4 === 3;
          return {
            prompt,
            adapters: stacks[i % stacks.length],
            maxTokens: 4 + ((i * 7) % 21),
            temperature: sampled ? 0.9 : 0,
            topP: sampled ? 0.9 : 1,
            seed: i,
            eos: [],
          };
        });
      });

      it('16 concurrent requests give exactly what each gives alone; the log-probs match a full forward without cache', async () => {
        const alone = [];
        const single = new BatchDecoder(m, { maxBatch: 1 });
        for (const r of reqs) alone.push(await run(single, r));
        for (let i = 0; i < reqs.length; i++) {
          expect(alone[i].finish).toBe('length');
          // the engine's other path (llama_forward over the whole sequence, sgemm products) scores the same tokens
          const P = reqs[i].prompt.length;
          const sc = await m.score([...reqs[i].prompt, ...alone[i].tokens], reqs[i].adapters);
          alone[i].logprobs.forEach((lp, t) =>
            expect(Math.abs(lp - sc.logprobs[P - 1 + t]), `request ${i} token ${t}`).toBeLessThan(quant === 'nf4' ? 2e-3 : 2e-4),
          );
        }
        const dec = new BatchDecoder(m, { maxBatch: 16 });
        let maxRows = 0;
        dec.onStep = (rows) => (maxRows = Math.max(maxRows, rows));
        const together = await Promise.all(reqs.map((r) => run(dec, r)));
        expect(maxRows).toBe(16);
        for (let i = 0; i < reqs.length; i++) {
          expect(together[i].tokens, `request ${i} batched`).toEqual(alone[i].tokens);
          expect(together[i].logprobs).toEqual(alone[i].logprobs);
        }
        // a smaller batch: requests queue, join when a row frees and leave at different steps
        const small = new BatchDecoder(m, { maxBatch: 5, prefillRows: 24 });
        const prefilled: number[] = [];
        small.onStep = (_rows, _s, prefill) => prefilled.push(prefill);
        const staggered = await Promise.all(reqs.map((r) => run(small, r)));
        for (let i = 0; i < reqs.length; i++) expect(staggered[i].tokens, `request ${i} in a batch of 5`).toEqual(alone[i].tokens);
        // each step reports the prompt rows it ran: every prompt exactly once, at most the budget per step (a longer
        // prompt joins alone)
        const longest = Math.max(...reqs.map((r) => r.prompt.length));
        expect(prefilled.reduce((a, b) => a + b, 0)).toBe(reqs.reduce((a, r) => a + r.prompt.length, 0));
        for (const p of prefilled) expect(p).toBeLessThanOrEqual(Math.max(24, longest));
        expect(prefilled.filter((p) => p === 0).length).toBeGreaterThan(0); // decode-only steps
      });
    });
  }

  // bf16 compute on a CPU with AVX512-BF16: the batch's frozen products and head run with bf16 inputs (vdpbf16ps), and
  // single-sequence generation runs the same products, so a batched request still equals itself alone and generate
  const bf16 = !nativeEngine().engineCaps().bf16Native
    ? 'no native bf16 on this CPU / build'
    : !testAddon.kernels.decodeRowsBf16Available()
      ? 'the bf16 rows mode needs AVX512-BF16 and the avx512 ISA path (PEFT_ISA)'
      : '';
  it.skipIf(bf16 !== '')(`bf16 compute, NF4: batched = alone bit for bit = generate's greedy tokens${bf16 ? ` (skipped: ${bf16})` : ''}`, async () => {
    const m = await loadModel({ dir: MODEL, quant: 'nf4', compute: 'bf16' });
    const a = await randomAdapter(m, 3, 8, 'all-linear');
    const rnd = mulberry32(11);
    const reqs: DecodeRequest[] = Array.from({ length: 16 }, (_, i) => ({
      // two prompts longer than a prefill chunk (64 rows), one longer than two
      prompt: [1, ...Array.from({ length: i === 5 ? 150 : i === 11 ? 70 : 1 + Math.floor(rnd() * 12) }, () => 3 + Math.floor(rnd() * 500))],
      adapters: i % 2 ? [{ adapter: a, weight: 0.5 }] : [],
      maxTokens: 6 + (i % 5),
      eos: [],
    }));
    const single = new BatchDecoder(m, { maxBatch: 1 });
    const alone = [];
    for (const r of reqs) alone.push(await run(single, r));
    const dec16 = new BatchDecoder(m, { maxBatch: 16 });
    const together = await Promise.all(reqs.map((r) => run(dec16, r)));
    for (let i = 0; i < reqs.length; i++) {
      expect(together[i].tokens, `request ${i} batched`).toEqual(alone[i].tokens);
      expect(together[i].logprobs).toEqual(alone[i].logprobs);
      const g = await m.generate(reqs[i].prompt, { maxTokens: reqs[i].maxTokens, eos: [] }, reqs[i].adapters);
      expect(g, `request ${i} by generate`).toEqual(alone[i].tokens);
    }
    // one prompt chunk joining per step: the long prompts prefill across steps while the others decode
    const chunked = new BatchDecoder(m, { maxBatch: 16, prefillRows: 64 });
    const interleaved = await Promise.all(reqs.map((r) => run(chunked, r)));
    for (let i = 0; i < reqs.length; i++) expect(interleaved[i].logprobs, `request ${i} chunked`).toEqual(alone[i].logprobs);
    // the bf16 products ran: fp32 compute gives other log-probs for the same tokens
    const m32 = await loadModel({ dir: MODEL, quant: 'nf4' });
    const r32 = await run(new BatchDecoder(m32, { maxBatch: 1 }), { ...reqs[0], maxTokens: 1 });
    expect(r32.logprobs[0]).not.toBe(alone[0].logprobs[0]);
    expect(Math.abs(r32.logprobs[0] - alone[0].logprobs[0])).toBeLessThan(0.05);
  });

  it('the published stories260K greedy sample comes out of a busy batch; EOS ends a sequence with "stop"', async () => {
    const m = await loadModel({ dir: MODEL, quant: 'none' });
    const dec = new BatchDecoder(m, { maxBatch: 4 });
    const prompt = m.tokenizer.encode('Once upon a time', { special: true });
    const others = [run(dec, { prompt: [1, 500, 501], maxTokens: 30 }), run(dec, { prompt: [1, 42], maxTokens: 7 })];
    const r = await run(dec, { prompt, maxTokens: 20 });
    expect(r.tokens).toEqual(GREEDY);
    const eos = await run(dec, { prompt, maxTokens: 20, eos: [GREEDY[5]] });
    expect(eos).toMatchObject({ tokens: GREEDY.slice(0, 6), finish: 'stop' });
    await Promise.all(others);
  });

  it('cancelling frees the row for the next request; bad input is refused without stopping the decoder', async () => {
    const m = await loadModel({ dir: MODEL, quant: 'none' });
    const dec = new BatchDecoder(m, { maxBatch: 1, kvBudgetBytes: 1 << 20 });
    const ac = new AbortController();
    let n = 0;
    const first = dec.generate({ prompt: [1, 2, 3], maxTokens: 200 }, { onToken: () => ++n === 3 && ac.abort(), signal: ac.signal });
    const second = run(dec, { prompt: [1, 403], maxTokens: 5 });
    expect(await first).toBe('cancelled');
    expect(n).toBeLessThan(10);
    expect((await second).tokens).toHaveLength(5);
    await expect(dec.generate({ prompt: [], maxTokens: 3 }, { onToken: () => {} })).rejects.toThrow(/prompt is empty/);
    await expect(dec.generate({ prompt: [1, 999999], maxTokens: 3 }, { onToken: () => {} })).rejects.toThrow(/outside the vocabulary/);
    await expect(dec.generate({ prompt: [1], maxTokens: 100000 }, { onToken: () => {} })).rejects.toThrow(/more than the whole budget/);
    expect((await run(dec, { prompt: [1, 403], maxTokens: 5 })).tokens).toEqual((await second).tokens);
  });
});
