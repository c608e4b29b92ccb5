// transformers 4.35.2 ground truth for every Llama-family variant the engine claims, and GPT-2 (hf-tiny): logits at the stored
// positions within 2e-4, per-token log-probs within 1e-4, KV-cache greedy ids exact. Prints the largest differences.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/engine/index.ts';
import { HF_TINY, maxAbsDiff, skipReason } from './fixtures.ts';

const VARIANTS = ['llama-gqa-untied', 'llama-rope-linear', 'llama-rope-dynamic', 'llama-attn-bias', 'mistral', 'gpt2'];

interface Expected {
  sequence: { ids: number[] };
  forward: { logits: Record<string, number[]>; next_token_logprobs: number[]; logsumexp: number[] };
  greedy: { prompt_ids: number[]; new_ids: number[] };
}

describe.skipIf(skipReason !== '')('hf-tiny architecture variants' + (skipReason ? ` (skipped: ${skipReason})` : ''), () => {
  for (const name of VARIANTS) {
    it(`${name}: logits, log-probs and greedy ids match transformers`, async () => {
      const dir = join(HF_TINY, name);
      const exp = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Expected;
      const m = await loadModel({ dir, quant: 'none' });
      const ids = exp.sequence.ids;
      const s = await m.score(ids, [], { logits: true });
      const V = m.info.vocabSize;
      let logitDiff = 0;
      for (const [pos, row] of Object.entries(exp.forward.logits)) {
        const p = Number(pos);
        logitDiff = Math.max(logitDiff, maxAbsDiff(s.logits!.subarray(p * V, (p + 1) * V), row));
      }
      const lpDiff = maxAbsDiff(s.logprobs, exp.forward.next_token_logprobs);
      const greedy = await m.generate(exp.greedy.prompt_ids, { maxTokens: exp.greedy.new_ids.length, temperature: 0, eos: [] });
      console.log(
        `[numerics] hf-tiny/${name}: max |logit diff| ${logitDiff.toExponential(2)}, max |logprob diff| ${lpDiff.toExponential(2)}, greedy ${greedy.join(',') === exp.greedy.new_ids.join(',') ? 'exact' : 'DIFFERENT'}`,
      );
      expect(logitDiff).toBeLessThan(2e-4);
      expect(lpDiff).toBeLessThan(1e-4);
      expect(greedy).toEqual(exp.greedy.new_ids);
    });
  }
});
