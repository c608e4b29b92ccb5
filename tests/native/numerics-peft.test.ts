// transformers + PEFT ground truth for adapters on stories260K: lora-a, lora-b, both stacked, and the `cat` merge:
// greedy ids exact, next-token log-probs within 1e-4, last logits within 2e-4; and refusal of foreign tensors.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type AdapterUse, type EngineModel } from '../../src/engine/index.ts';
import { readSafetensors, writeSafetensorsF32 } from '../../src/hf/safetensors.ts';
import { PEFT, STORIES, maxAbsDiff, skipReason } from './fixtures.ts';

interface Case {
  greedy_ids: number[];
  next_token_logprobs: number[];
  last_logits: number[];
  mean_nll_cont32: number;
}

describe.skipIf(skipReason !== '')('PEFT adapters on stories260K' + (skipReason ? ` (skipped: ${skipReason})` : ''), () => {
  let m: EngineModel;
  let exp: { sequence: { ids: number[] }; prompt: { ids: number[] }; cases: Record<string, Case> };
  let tmp: string;
  beforeAll(async () => {
    m = await loadModel({ dir: STORIES, quant: 'none' });
    exp = JSON.parse(readFileSync(join(PEFT, 'expected.json'), 'utf8'));
    tmp = mkdtempSync(join(tmpdir(), 'peft-num-'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  const stacks: Record<string, string[]> = {
    base: [],
    'lora-a': ['lora-a'],
    'lora-b': ['lora-b'],
    'lora-a+lora-b': ['lora-a', 'lora-b'],
    'merged-cat': ['merged-cat'],
  };
  for (const [name, dirs] of Object.entries(stacks)) {
    it(`${name}: greedy ids, log-probs and last logits match PEFT`, async () => {
      const adapters: AdapterUse[] = [];
      for (const d of dirs) adapters.push({ adapter: await m.loadAdapter(join(PEFT, d)) });
      const c = exp.cases[name];
      const ids = exp.sequence.ids;
      const s = await m.score(ids, adapters, { logits: true });
      const V = m.info.vocabSize;
      const last = s.logits!.subarray((ids.length - 1) * V, ids.length * V);
      const lpDiff = maxAbsDiff(s.logprobs, c.next_token_logprobs);
      const lgDiff = maxAbsDiff(last, c.last_logits);
      const nll32 = -s.logprobs.slice(-32).reduce((a, b) => a + b, 0) / 32;
      const greedy = await m.generate(exp.prompt.ids, { maxTokens: 40, temperature: 0 }, adapters);
      console.log(
        `[numerics] peft-stories260K/${name}: max |logprob diff| ${lpDiff.toExponential(2)}, max |last logit diff| ${lgDiff.toExponential(2)}, |nll32 diff| ${Math.abs(nll32 - c.mean_nll_cont32).toExponential(2)}`,
      );
      expect(lpDiff).toBeLessThan(1e-4);
      expect(lgDiff).toBeLessThan(2e-4);
      expect(Math.abs(nll32 - c.mean_nll_cont32)).toBeLessThan(2e-5);
      expect(greedy).toEqual(c.greedy_ids);
    });
  }

  it('uses alpha/sqrt(r) when use_rslora is true', async () => {
    const dir = join(tmp, 'rs');
    cpSync(join(PEFT, 'lora-b'), dir, { recursive: true });
    const cfg = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ ...cfg, use_rslora: true }));
    const rs = await m.loadAdapter(dir);
    const plain = await m.loadAdapter(join(PEFT, 'lora-b'));
    expect(rs.scaling).toBe(8 / 2);
    // rsLoRA at scale 4 == the plain adapter (scale 2) at weight 2
    const ids = exp.sequence.ids;
    const a = await m.score(ids, [{ adapter: rs }], { logits: true });
    const b = await m.score(ids, [{ adapter: plain, weight: 2 }], { logits: true });
    expect(maxAbsDiff(a.logits!, b.logits!)).toBeLessThan(1e-5);
  });

  it('refuses an adapter whose tensors do not all map onto the base, naming the first', async () => {
    const dir = join(tmp, 'foreign');
    cpSync(join(PEFT, 'lora-b'), dir, { recursive: true });
    const st = readSafetensors(join(dir, 'adapter_model.safetensors'));
    const tensors = Object.fromEntries(st.tensors);
    tensors['base_model.model.model.layers.7.self_attn.q_proj.lora_A.weight'] = tensors['base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight'];
    writeSafetensorsF32(join(dir, 'adapter_model.safetensors'), tensors);
    await expect(m.loadAdapter(dir)).rejects.toMatchObject({ code: 'E_ADAPTER', message: expect.stringContaining('layers.7.self_attn.q_proj.lora_A') });
    const dir2 = join(tmp, 'wrongshape');
    cpSync(join(PEFT, 'lora-b'), dir2, { recursive: true });
    const cfg = JSON.parse(readFileSync(join(dir2, 'adapter_config.json'), 'utf8'));
    writeFileSync(join(dir2, 'adapter_config.json'), JSON.stringify({ ...cfg, r: 8 }));
    await expect(m.loadAdapter(dir2)).rejects.toMatchObject({ code: 'E_ADAPTER' });
    writeFileSync(join(dir2, 'adapter_config.json'), JSON.stringify({ ...cfg, target_modules: ['q_proj'] }));
    await expect(m.loadAdapter(dir2)).rejects.toMatchObject({ code: 'E_ADAPTER', message: expect.stringContaining('v_proj') });
  });
});
