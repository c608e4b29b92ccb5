// GGUF export of GPT-2 (llama.cpp's gpt2 architecture) on ../shared/fixtures/hf-arch/gpt2 (transformers + PEFT):
// base.gguf, the fan_in_fan_out lora-a as a LoRA GGUF and the merged model run in llama.cpp through node-llama-cpp
// at F16 and give transformers' (= the engine's) greedy ids: the base, lora-a applied, lora-a off, merged; Conv1D
// weights are written transposed, the tied head as output.weight.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSafetensors } from '../../../src/hf/safetensors.ts';
import { fitAdapter } from '../../../stages/shared/adapter-fit.ts';
import { baseShapes, readBaseWeights } from '../../../stages/shared/base-weights.ts';
import { mergeIntoBase } from '../../../stages/export/merge-into-base.ts';
import { writeGpt2Gguf, writeLoraGguf } from '../../../stages/export/gguf-export.ts';
import { GgmlType, readGguf } from '../../../stages/export/gguf/gguf-file.ts';
import { decodeGgml } from '../../../stages/export/gguf/gguf-quant.ts';
import { gpt2GgufName, gpt2Hparams, transpose } from '../../../stages/export/gguf/gguf-gpt2.ts';
import { ggufVocab } from '../../../stages/export/gguf/gguf-vocab.ts';
import { llamaCppGreedy, llamaCppSkip } from '../../helpers/llama-cpp.ts';

const FIX = join(import.meta.dirname, '..', '..', '..', '..', 'shared', 'fixtures', 'hf-arch', 'gpt2');
const HF = join(FIX, 'hf');
const skip = existsSync(HF) ? '' : '../shared/fixtures/hf-arch/gpt2 is absent';

describe.skipIf(skip !== '')(`gguf export of GPT-2${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let tmp: string;
  const exp = () => JSON.parse(readFileSync(join(FIX, 'expected.json'), 'utf8'));
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'peft-gguf-gpt2-'));
    const config = JSON.parse(readFileSync(join(HF, 'config.json'), 'utf8'));
    const h = gpt2Hparams(config, 'config.json');
    const vocab = ggufVocab(HF, config, h.vocab);
    const base = readBaseWeights(HF).tensors;
    const fitted = fitAdapter(join(FIX, 'lora-a'), baseShapes(HF), HF);
    writeGpt2Gguf(join(tmp, 'base.gguf'), 'gpt2', h, vocab, base, 'F16');
    writeLoraGguf(join(tmp, 'a.lora.gguf'), 'a', undefined, fitted, 1, GgmlType.F16);
    writeGpt2Gguf(join(tmp, 'merged.gguf'), 'gpt2+a', h, vocab, mergeIntoBase(base, [{ fitted, weight: 1 }]), 'F16');
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('writes gpt2 metadata, llama.cpp names, Conv1D weights transposed, the tied head as output.weight', () => {
    const g = readGguf(join(tmp, 'base.gguf'));
    const m = g.metadata;
    expect(m.get('general.architecture')).toBe('gpt2');
    expect([m.get('gpt2.block_count'), m.get('gpt2.embedding_length'), m.get('gpt2.feed_forward_length'), m.get('gpt2.context_length')]).toEqual([
      3, 64, 256, 64,
    ]);
    expect((m.get('tokenizer.ggml.tokens') as string[]).length).toBe(512);
    const names = g.tensors.map((t) => t.name);
    for (const n of ['token_embd.weight', 'position_embd.weight', 'output.weight', 'output_norm.bias', 'blk.2.attn_qkv.bias', 'blk.0.ffn_down.weight'])
      expect(names).toContain(n);
    const qkv = g.tensors.find((t) => t.name === 'blk.0.attn_qkv.weight')!;
    expect([qkv.ne, qkv.type]).toEqual([[64, 192], GgmlType.F16]);
    const hf = readSafetensors(join(HF, 'model.safetensors')).tensors;
    const key = [...hf.keys()].find((k) => k.endsWith('h.0.attn.c_attn.weight'))!;
    expect(gpt2GgufName(key)).toEqual({ name: 'blk.0.attn_qkv.weight', conv1d: true });
    const want = transpose(hf.get(key)!.data, 64, 192);
    const got = decodeGgml(qkv.data, GgmlType.F16, 64 * 192);
    let d = 0;
    for (let i = 0; i < want.length; i++) d = Math.max(d, Math.abs(got[i] - want[i]));
    expect(d).toBeLessThan(1e-3);
    const lora = readGguf(join(tmp, 'a.lora.gguf'));
    expect(lora.metadata.get('general.architecture')).toBe('gpt2');
    expect(lora.metadata.get('adapter.lora.alpha')).toBe(16);
    const la = lora.tensors.find((t) => t.name === 'blk.0.attn_qkv.weight.lora_a')!;
    const lb = lora.tensors.find((t) => t.name === 'blk.0.attn_qkv.weight.lora_b')!;
    expect([la.ne, lb.ne]).toEqual([
      [64, 8],
      [8, 192],
    ]);
  });

  const llSkip = llamaCppSkip();
  it.skipIf(llSkip !== '')(
    `llama.cpp (node-llama-cpp) at F16 gives transformers' greedy ids: base, lora-a, lora-a off, merged${llSkip ? ` (skipped: ${llSkip})` : ''}`,
    async () => {
      const e = exp();
      // The first two prompts (each run loads the model three times; the third prompt adds time, not coverage).
      for (const [i, p] of e.prompts.slice(0, 2).entries()) {
        const n = e.cases.base[i].greedy_new_ids.length;
        expect(await llamaCppGreedy(join(tmp, 'base.gguf'), [], p.ids, n)).toEqual(e.cases.base[i].greedy_new_ids);
        expect(await llamaCppGreedy(join(tmp, 'base.gguf'), [join(tmp, 'a.lora.gguf')], p.ids, n)).toEqual(e.cases['lora-a'][i].greedy_new_ids);
        expect(await llamaCppGreedy(join(tmp, 'merged.gguf'), [], p.ids, n)).toEqual(e.cases['lora-a'][i].greedy_new_ids);
      }
    },
    120_000,
  );
});
