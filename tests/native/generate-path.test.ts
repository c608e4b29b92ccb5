// model.generate (one sequence, the whole loop in native/src/generate.cc) against the batched decoder serving the
// same request alone (native/src/decode): the same tokens and the same log-probabilities bit for bit, for fp32 and NF4
// weights in fp32 and bf16 compute, with and without a LoRA stack, for a short prompt (at most 16 tokens: every decode
// row's products), prompts of 17-32 tokens (decode/rows_matmul's tiles in both) and longer ones (fp32 compute: chunks
// of generate.h PREFILL_CHUNK rows through the same products, a last chunk of 6 rows through the decode products;
// where a model's weights are not all row products, llama_forward in both), greedy and seeded sampling, on every ISA.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchDecoder, type DecodeRequest } from '../../src/engine/batch.ts';
import { initModel } from '../../src/engine/init-model.ts';
import { loadModel, type AdapterUse, type EngineModel } from '../../src/engine/index.ts';
import { nativeEngine } from '../../src/engine/native.ts';
import { skipReason, STORIES } from './fixtures.ts';
import { randomizeB } from './random.ts';

const reason = skipReason;

describe.skipIf(reason !== '')(`generate = the batched decoder alone${reason ? ` (skipped: ${reason})` : ''}`, () => {
  beforeAll(() => void nativeEngine().setThreads(1)); // tiny models: pool wake-ups would cost more than the work
  // stories260K (its NF4 down_proj, 172 wide, is not whole 64-weight blocks: NF4 runs llama_forward there) and a
  // small Llama shape whose every width is whole blocks (NF4 through the row products, long prompts in chunks)
  const tmp = mkdtempSync(join(tmpdir(), 'peft-genpath-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const blocks = join(tmp, 'blocks');
  initModel(blocks, { vocabSize: 512, hiddenSize: 128, intermediateSize: 256, numLayers: 2, numHeads: 4, numKvHeads: 2, tokenizer: 'none', seed: 5 });
  for (const [model, dir] of [
    ['stories260K', STORIES],
    ['whole-block Llama', blocks],
  ] as const)
    for (const quant of ['none', 'nf4'] as const)
      for (const compute of ['fp32', 'bf16'] as const)
        it(`${model}, ${quant}, ${compute} compute: same tokens and log-probabilities for prompts of 5 to 100 tokens, with and without adapters, greedy and sampled`, async () => {
          await check(await loadModel({ dir, quant, compute }));
        });
});

async function check(m: EngineModel): Promise<void> {
  const a = await m.createAdapter({ r: 4, alpha: 8, targets: 'all-linear', seed: 3, name: 'a' });
  randomizeB(a, 5, 0.05);
  const short = [1, 403, 407, 383, 294];
  const tokensOf = (n: number) => [1, ...Array.from({ length: n - 1 }, (_, i) => 3 + ((i * 37) % 500))];
  const dec = new BatchDecoder(m, { maxBatch: 1 });
  for (const prompt of [short, tokensOf(20), tokensOf(32), tokensOf(45), tokensOf(70), tokensOf(100)])
    for (const adapters of [[], [{ adapter: a, weight: 0.7 }]] as AdapterUse[][])
      for (const temperature of [0, 0.9]) {
        const opts = { maxTokens: 24, temperature, topP: temperature ? 0.9 : 1, seed: 11, eos: [] as number[] };
        const tokens: number[] = [];
        const logprobs: number[] = [];
        const req: DecodeRequest = { prompt, adapters, ...opts };
        await dec.generate(req, {
          onToken: (t) => {
            tokens.push(t.token);
            logprobs.push(t.logprob);
          },
        });
        const label = `prompt ${prompt.length}, ${adapters.length} adapters, temperature ${temperature}`;
        const g = await m.generateDetailed(prompt, opts, adapters);
        expect(g.tokens, label).toEqual(tokens);
        if (temperature === 0) expect(g.logprobs, label).toEqual(logprobs); // sampling rescales the logits first
      }
}
