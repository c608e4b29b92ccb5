// Engine core on the real pretrained stories260K: greedy generation and NLL as recorded in SOURCE.txt, NF4 close
// to f32, adapters that must not change logits (B = 0, scale 0), PEFT round trip of a saved adapter, bad input.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type EngineModel } from '../../src/engine/index.ts';
import { nativeEngine } from '../../src/engine/native.ts';
import { readSafetensors } from '../../src/hf/safetensors.ts';
import { STORIES, maxAbsDiff, skipReason } from './fixtures.ts';

const PROMPT = 'Once upon a time';
const GREEDY = [
  432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358,
  394, 261, 370, 432, 352, 266, 268, 388, 426,
];
const NLL_TEXT = 'Once upon a time, there was a little girl named Lily. She loved to play outside.';

describe.skipIf(skipReason !== '')('engine on stories260K' + (skipReason ? ` (skipped: ${skipReason})` : ''), () => {
  let m: EngineModel;
  let tmp: string;
  beforeAll(async () => {
    m = await loadModel({ dir: STORIES, quant: 'none' });
    tmp = mkdtempSync(join(tmpdir(), 'peft-engine-'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('greedy generation from "Once upon a time" reproduces the recorded ids token for token', async () => {
    const prompt = m.tokenizer.encode(PROMPT, { special: true });
    expect(prompt).toEqual([1, 403, 407, 261, 378]);
    const out = await m.generate(prompt, { maxTokens: 40, temperature: 0 });
    expect(out).toEqual(GREEDY);
    expect(m.tokenizer.decode([...prompt, ...out], { skipSpecial: true })).toBe(
      'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball.',
    );
  });

  it('mean NLL of the SOURCE.txt sentence is 0.280 within 0.005 over 26 tokens', async () => {
    const ids = m.tokenizer.encode(NLL_TEXT, { special: true });
    const s = await m.score(ids);
    expect(s.logprobs.length).toBe(26);
    expect(Math.abs(s.meanNll - 0.28)).toBeLessThan(0.005);
  });

  it('the KV-cache decode gives the same logits as a full forward (greedy continuation scored)', async () => {
    const full = await m.score([1, 403, 407, 261, 378, ...GREEDY.slice(0, 20)], [], { logits: true });
    // greedy argmax of each position's logits equals the next greedy id
    const V = m.info.vocabSize;
    for (let t = 4; t < 24; t++) {
      const row = full.logits!.subarray(t * V, (t + 1) * V);
      let best = 0;
      for (let j = 1; j < V; j++) if (row[j] > row[best]) best = j;
      expect(best).toBe(GREEDY[t - 4]);
    }
  });

  it('an adapter with B = 0, and any adapter at weight 0, leave the logits bit-identical', async () => {
    const ids = m.tokenizer.encode(NLL_TEXT, { special: true });
    const base = await m.score(ids, [], { logits: true });
    const zeroB = await m.createAdapter({ r: 4, targets: 'all-linear', seed: 3 });
    const withZero = await m.score(ids, [{ adapter: zeroB }], { logits: true });
    expect(Buffer.from(withZero.logits!.buffer).equals(Buffer.from(base.logits!.buffer))).toBe(true);
    const a = await m.loadAdapter(join(STORIES, '..', '..', 'peft-stories260K', 'lora-a'));
    const scaled0 = await m.score(ids, [{ adapter: a, weight: 0 }], { logits: true });
    expect(Buffer.from(scaled0.logits!.buffer).equals(Buffer.from(base.logits!.buffer))).toBe(true);
    const scaled1 = await m.score(ids, [{ adapter: a, weight: 1 }], { logits: true });
    expect(maxAbsDiff(scaled1.logits!, base.logits!)).toBeGreaterThan(1e-3);
  });

  it('NF4 stays within 0.15 nats of the f32 mean NLL (stated margin) and stores under 0.6 bytes per weight', async () => {
    const q = await loadModel({ dir: STORIES, quant: 'nf4' });
    expect(q.info.quant).toBe('nf4');
    const ids = m.tokenizer.encode(NLL_TEXT, { special: true });
    const f = await m.score(ids);
    const n = await q.score(ids);
    expect(Math.abs(n.meanNll - f.meanNll)).toBeLessThan(0.15);
    expect(n.meanNll).not.toBe(f.meanNll); // the weights really are quantized
    console.log(`[numerics] stories260K NF4 vs f32 mean NLL: ${n.meanNll.toFixed(4)} vs ${f.meanNll.toFixed(4)}`);
    // linear weights: f32 footprint minus the unquantized embedding and norms, per linear weight
    const H = 64,
      V = 512,
      L = 5;
    const linear = q.info.params - V * H - (2 * L + 1) * H;
    const linearBytes = q.info.frozenBytes - (V * H + (2 * L + 1) * H) * 4;
    expect(linearBytes / linear).toBeLessThan(0.6);
  });

  it('saved adapters round-trip with PEFT names, shapes and config', async () => {
    const a = await m.createAdapter({ r: 4, alpha: 8, targets: ['q_proj', 'v_proj', 'down_proj'], seed: 11 });
    const dir = join(tmp, 'saved');
    await a.save(dir, 'stories260K/hf');
    const st = readSafetensors(join(dir, 'adapter_model.safetensors'));
    const names = [...st.tensors.keys()];
    expect(names.length).toBe(5 * 3 * 2);
    expect(names).toContain('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight');
    expect(st.tensors.get('base_model.model.model.layers.4.mlp.down_proj.lora_A.weight')!.shape).toEqual([4, 172]);
    expect(st.tensors.get('base_model.model.model.layers.4.mlp.down_proj.lora_B.weight')!.shape).toEqual([64, 4]);
    expect(st.tensors.get('base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight')!.shape).toEqual([32, 4]);
    const A = st.tensors.get('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight')!.data;
    const bound = 1 / Math.sqrt(64);
    expect(Math.max(...Array.from(A).map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...Array.from(A).map(Math.abs))).toBeGreaterThan(bound * 0.8);
    const cfg = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ r: 4, lora_alpha: 8, peft_type: 'LORA', use_rslora: false, target_modules: ['down_proj', 'q_proj', 'v_proj'] });
    const back = await m.loadAdapter(dir);
    const dir2 = join(tmp, 'saved2');
    await back.save(dir2);
    expect(readFileSync(join(dir2, 'adapter_model.safetensors')).equals(readFileSync(join(dir, 'adapter_model.safetensors')))).toBe(true);
  });

  it('rejects bad input with coded errors and never crashes', async () => {
    await expect(m.score([1, 512])).rejects.toMatchObject({ code: 'E_ENGINE' });
    await expect(m.generate([], {})).rejects.toMatchObject({ code: 'E_ENGINE' });
    await expect(m.generate([1], { temperature: -1 })).rejects.toMatchObject({ code: 'E_ENGINE' });
    await expect(m.generate([1], { topP: 2 })).rejects.toMatchObject({ code: 'E_ENGINE' });
    await expect(loadModel({ dir: join(tmp, 'nope') })).rejects.toMatchObject({ code: 'E_MODEL' });
    const ne = nativeEngine();
    expect(() => ne.modelInfo({} as object)).toThrow(expect.objectContaining({ code: 'E_ENGINE' }));
    expect(() => ne.score(m.handle, [1, 2] as unknown as Int32Array, [])).toThrow(expect.objectContaining({ code: 'E_ENGINE' }));
  });
});
