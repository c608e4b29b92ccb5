// Native model loading against real fixtures: every hf-tiny config and stories260K/hf load with the right config and
// tensor shapes (checked against expected.json written by transformers), GPT-2 is refused, defaults per model type.
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { addon } from './addon.ts';

const fixtures = join(import.meta.dirname, '../../../shared/fixtures');
const hfTiny = join(fixtures, 'hf-tiny');
const stories = join(fixtures, 'stories260K/hf');
const noFixtures = !existsSync(hfTiny) || !existsSync(stories);

interface Highlights {
  model_type: string;
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  max_position_embeddings: number;
  rms_norm_eps: number;
  rope_theta: number;
  rope_scaling?: { type: string; factor: number } | null;
  tie_word_embeddings?: boolean;
  attention_bias?: boolean;
  sliding_window?: number;
  bos_token_id: number;
  eos_token_id: number;
}

const llamaFamily = ['llama-gqa-untied', 'llama-rope-linear', 'llama-rope-dynamic', 'llama-attn-bias', 'mistral'];

describe.skipIf(noFixtures)('hf-tiny fixtures load with transformers-equal config and tensors (../shared/fixtures; skipped when absent)', () => {
  for (const name of llamaFamily) {
    it(name, () => {
      const dir = join(hfTiny, name);
      const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8'));
      const hl = expected.config_highlights as Highlights;
      const m = addon.inspectModel(dir);
      const c = m.config;
      expect(c.modelType).toBe(hl.model_type);
      expect(c.vocabSize).toBe(hl.vocab_size);
      expect(c.hiddenSize).toBe(hl.hidden_size);
      expect(c.intermediateSize).toBe(hl.intermediate_size);
      expect(c.numLayers).toBe(hl.num_hidden_layers);
      expect(c.numHeads).toBe(hl.num_attention_heads);
      expect(c.numKvHeads).toBe(hl.num_key_value_heads);
      expect(c.headDim).toBe(hl.hidden_size / hl.num_attention_heads);
      expect(c.maxPositionEmbeddings).toBe(hl.max_position_embeddings);
      expect(c.rmsNormEps).toBe(hl.rms_norm_eps);
      expect(c.ropeTheta).toBe(hl.rope_theta);
      expect(c.ropeScaling.type).toBe(hl.rope_scaling ? hl.rope_scaling.type : 'none');
      if (hl.rope_scaling) expect(c.ropeScaling.factor).toBe(hl.rope_scaling.factor);
      // config.json of these fixtures states tying explicitly; MistralConfig/LlamaConfig default is false
      const cfgJson = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
      expect(c.tieWordEmbeddings).toBe(cfgJson.tie_word_embeddings);
      expect(c.attentionBias).toBe(hl.attention_bias ?? false);
      expect(c.qkvBias).toBe(hl.attention_bias ?? false);
      expect(c.oBias).toBe(hl.attention_bias ?? false);
      expect(c.slidingWindow).toBe(hl.sliding_window ?? 0);
      expect(c.bosTokenId).toBe(hl.bos_token_id);
      expect(c.eosTokenIds).toEqual([hl.eos_token_id]);
      // tensors: exactly the set transformers saved, with the same dtype and shape
      const want = (expected.safetensors['tensors_[name,dtype,shape]_in_header_order'] as [string, string, number[]][])
        .map(([n, dtype, shape]) => ({ name: n, dtype, shape }))
        .sort((a, b) => (a.name < b.name ? -1 : 1));
      expect(m.tensors).toEqual(want);
      expect(m.files).toEqual([join(dir, 'model.safetensors')]);
      expect(m.tensors.some((t: { name: string }) => t.name === 'lm_head.weight')).toBe(!c.tieWordEmbeddings);
    });
  }

  it('reads tensor values (embedding row 0 of llama-gqa-untied equals the bytes in the file)', () => {
    const dir = join(hfTiny, 'llama-gqa-untied');
    const emb = addon.readModelTensor(dir, 'model.embed_tokens.weight') as Float32Array;
    expect(emb.length).toBe(512 * 64);
    const buf = readFileSync(join(dir, 'model.safetensors'));
    const n = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + n).toString());
    const [b] = header['model.embed_tokens.weight'].data_offsets as number[];
    for (let i = 0; i < 64; i++) expect(emb[i]).toBe(buf.readFloatLE(8 + n + b + 4 * i));
  });

  it('gpt2: GPT-2 config keys (n_embd, n_inner null, n_positions) and its 28 tensors', () => {
    const m = addon.inspectModel(join(hfTiny, 'gpt2'));
    expect(m.config).toMatchObject({
      modelType: 'gpt2',
      architecture: 'GPT2LMHeadModel',
      hiddenSize: 64,
      intermediateSize: 256,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 4,
      headDim: 16,
      maxPositionEmbeddings: 128,
      tieWordEmbeddings: true,
      hiddenAct: 'gelu_new',
      rmsNormEps: 1e-5,
      bosTokenId: 511,
      eosTokenIds: [511],
    });
    expect(m.tensors.length).toBe(28);
    expect(m.tensors.find((t: { name: string }) => t.name === 'transformer.h.0.attn.c_attn.weight').shape).toEqual([64, 192]);
  });

  it('stories260K/hf: GQA 8/4, head_dim 8, tied, 47 tensors', () => {
    const m = addon.inspectModel(stories);
    expect(m.config).toMatchObject({
      modelType: 'llama',
      vocabSize: 512,
      hiddenSize: 64,
      intermediateSize: 172,
      numLayers: 5,
      numHeads: 8,
      numKvHeads: 4,
      headDim: 8,
      maxPositionEmbeddings: 512,
      rmsNormEps: 1e-5,
      ropeTheta: 10000,
      tieWordEmbeddings: true,
      bosTokenId: 1,
      eosTokenIds: [2],
      torchDtype: 'float32',
    });
    expect(m.tensors.length).toBe(47);
    const shape = (n: string) => m.tensors.find((t: { name: string }) => t.name === n)?.shape;
    expect(shape('model.embed_tokens.weight')).toEqual([512, 64]);
    expect(shape('model.layers.4.self_attn.k_proj.weight')).toEqual([32, 64]);
    expect(shape('model.layers.4.self_attn.q_proj.weight')).toEqual([64, 64]);
    expect(shape('model.layers.0.mlp.down_proj.weight')).toEqual([64, 172]);
    expect(shape('lm_head.weight')).toBeUndefined();
  });
});

describe('config defaults per model type (transformers config classes)', () => {
  const base = { hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, vocab_size: 100 };
  const parse = (o: object, gen?: object) => addon.parseModelConfig(JSON.stringify(o), gen ? JSON.stringify(gen) : undefined);

  it('llama: kv heads = heads, eps 1e-6, theta 1e4, max_pos 2048, untied, bos 1 / eos 2, no biases', () => {
    const c = parse({ ...base, model_type: 'llama' });
    expect(c).toMatchObject({
      numKvHeads: 4,
      headDim: 16,
      rmsNormEps: 1e-6,
      ropeTheta: 10000,
      maxPositionEmbeddings: 2048,
      tieWordEmbeddings: false,
      bosTokenId: 1,
      eosTokenIds: [2],
      attentionBias: false,
      mlpBias: false,
      slidingWindow: 0,
      architecture: 'LlamaForCausalLM',
    });
  });
  it('mistral: sliding_window 4096 when absent, none when null, max_pos 131072, 8 kv heads when absent', () => {
    const wide = { ...base, num_attention_heads: 16 };
    expect(parse({ ...wide, model_type: 'mistral' })).toMatchObject({
      slidingWindow: 4096,
      maxPositionEmbeddings: 131072,
      tieWordEmbeddings: false,
      numKvHeads: 8,
      headDim: 4,
    });
    expect(parse({ ...wide, model_type: 'mistral', sliding_window: null, num_key_value_heads: null })).toMatchObject({ slidingWindow: 0, numKvHeads: 16 });
  });
  it('qwen2: 32 kv heads when the key is absent (Qwen2Config), heads when null', () => {
    const wide = { ...base, hidden_size: 128, num_attention_heads: 64 };
    expect(parse({ ...wide, model_type: 'qwen2' }).numKvHeads).toBe(32);
    expect(parse({ ...wide, model_type: 'qwen2', num_key_value_heads: null }).numKvHeads).toBe(64);
    expect(parse({ ...wide, model_type: 'llama' }).numKvHeads).toBe(64);
  });
  it('qwen2: q/k/v bias without o bias, untied, no default bos/eos, max_pos 32768', () => {
    const c = parse({ ...base, model_type: 'qwen2', num_key_value_heads: 2, sliding_window: 4096, use_sliding_window: false });
    expect(c).toMatchObject({
      qkvBias: true,
      oBias: false,
      attentionBias: true,
      tieWordEmbeddings: false,
      bosTokenId: -1,
      eosTokenIds: [],
      maxPositionEmbeddings: 32768,
      slidingWindow: 0,
    });
  });
  it('head_dim key wins over hidden_size / heads; eos may be a list; generation_config overrides', () => {
    const c = parse({ ...base, model_type: 'llama', head_dim: 8, eos_token_id: [2, 7], tie_word_embeddings: true }, { eos_token_id: [9, 3], bos_token_id: 5 });
    expect(c.headDim).toBe(8);
    expect(c.eosTokenIds).toEqual([9, 3]);
    expect(c.bosTokenId).toBe(5);
    expect(c.tieWordEmbeddings).toBe(true);
    expect(parse({ ...base, model_type: 'llama', eos_token_id: [2, 7] }).eosTokenIds).toEqual([2, 7]);
  });
  it('rope_scaling with rope_type (newer configs) and rope type default', () => {
    expect(parse({ ...base, model_type: 'llama', rope_scaling: { rope_type: 'linear', factor: 2 } }).ropeScaling).toMatchObject({ type: 'linear', factor: 2 });
    expect(parse({ ...base, model_type: 'llama', rope_scaling: { rope_type: 'default' } }).ropeScaling.type).toBe('none');
  });
  it('model_type inferred from architectures when absent', () => {
    expect(parse({ ...base, num_key_value_heads: 2, architectures: ['MistralForCausalLM'] }).modelType).toBe('mistral');
  });
});
