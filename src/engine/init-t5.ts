// Creates a deterministic random-init T5 v1.1 / FLAN-T5-shaped model (T5ForConditionalGeneration: gated-gelu, untied
// head unless asked, relative position buckets) in Hugging Face layout, with a byte-level tokenizer whose
// post-processor appends </s> (T5's convention: no BOS), for tests, examples and benchmarks.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PeftError } from '../errors.ts';
import { type TensorSpec, writeSafetensorsStream } from '../hf/safetensors.ts';
import { byteLevelTokenizer, checkRoom, fillNormal, streamFor } from './init-model.ts';

export interface T5Shape {
  vocabSize: number;
  dModel: number;
  dFf: number;
  numLayers: number;
  /** Defaults to numLayers. */
  numDecoderLayers?: number;
  numHeads: number;
  /** Defaults to dModel / numHeads. */
  dKv?: number;
  numBuckets?: number;
  maxDistance?: number;
  /** Default false (T5 v1.1 / FLAN-T5: separate lm_head). */
  tieWordEmbeddings?: boolean;
}

/** google/flan-t5-base (248M). */
export const FLAN_T5_BASE_SHAPE: Readonly<T5Shape> = Object.freeze({
  vocabSize: 32128,
  dModel: 768,
  dFf: 2048,
  numLayers: 12,
  numHeads: 12,
  dKv: 64,
});

const EOS = 2;
const PAD = 0;

function resolve(s: T5Shape) {
  const check = (name: string, v: number | undefined, min: number) => {
    if (v === undefined || !Number.isSafeInteger(v) || v < min)
      throw new PeftError('E_MODEL', `init t5 model: ${name} must be an integer >= ${min}, got ${v}`, { hint: `set ${name}` });
  };
  check('vocabSize', s.vocabSize, 259);
  check('dModel', s.dModel, 1);
  check('dFf', s.dFf, 1);
  check('numLayers', s.numLayers, 1);
  check('numHeads', s.numHeads, 1);
  const dKv = s.dKv ?? Math.floor(s.dModel / s.numHeads);
  check('dKv', dKv, 1);
  const Ld = s.numDecoderLayers ?? s.numLayers;
  check('numDecoderLayers', Ld, 1);
  return { ...s, dKv, Ld, nb: s.numBuckets ?? 32, md: s.maxDistance ?? 128, tie: s.tieWordEmbeddings ?? false };
}

/** Tensors in transformers' names with T5's own init std (T5PreTrainedModel._init_weights, initializer_factor 1). */
function plan(r: ReturnType<typeof resolve>): (TensorSpec & { std: number })[] {
  const D = r.dModel,
    I = r.numHeads * r.dKv,
    F = r.dFf;
  const t: (TensorSpec & { std: number })[] = [];
  const add = (name: string, shape: number[], std: number) => t.push({ name, dtype: 'F32', shape, std });
  add('shared.weight', [r.vocabSize, D], 1);
  if (!r.tie) add('lm_head.weight', [r.vocabSize, D], 1);
  for (const [stack, L] of [
    ['encoder', r.numLayers],
    ['decoder', r.Ld],
  ] as const) {
    for (let l = 0; l < L; l++) {
      const p = `${stack}.block.${l}.layer.`;
      const attn = (pre: string, bias: boolean) => {
        add(`${pre}.q.weight`, [I, D], (D * r.dKv) ** -0.5);
        add(`${pre}.k.weight`, [I, D], D ** -0.5);
        add(`${pre}.v.weight`, [I, D], D ** -0.5);
        add(`${pre}.o.weight`, [D, I], I ** -0.5);
        if (bias) add(`${pre}.relative_attention_bias.weight`, [r.nb, r.numHeads], D ** -0.5);
      };
      attn(`${p}0.SelfAttention`, l === 0);
      add(`${p}0.layer_norm.weight`, [D], 0);
      let ff = `${p}1`;
      if (stack === 'decoder') {
        attn(`${p}1.EncDecAttention`, false);
        add(`${p}1.layer_norm.weight`, [D], 0);
        ff = `${p}2`;
      }
      add(`${ff}.DenseReluDense.wi_0.weight`, [F, D], D ** -0.5);
      add(`${ff}.DenseReluDense.wi_1.weight`, [F, D], D ** -0.5);
      add(`${ff}.DenseReluDense.wo.weight`, [D, F], F ** -0.5);
      add(`${ff}.layer_norm.weight`, [D], 0);
    }
    add(`${stack}.final_layer_norm.weight`, [D], 0);
  }
  return t;
}

export function planT5Model(shape: T5Shape): { numParams: number } {
  return { numParams: plan(resolve(shape)).reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0) };
}

/** Writes the model into outDir (norm weights 1, every other weight normal with T5's std); same seed, same bytes. */
export function initT5Model(outDir: string, opts: T5Shape & { seed?: number; tokenizer?: 'byte-level' | 'none' }): { dir: string; numParams: number } {
  const r = resolve(opts);
  const seed = opts.seed ?? 0;
  const tensors = plan(r);
  const numParams = tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
  checkRoom(outDir, numParams * 4);
  mkdirSync(outDir, { recursive: true });
  writeSafetensorsStream(join(outDir, 'model.safetensors'), tensors, (spec) => {
    const t = tensors.find((p) => p.name === spec.name)!;
    const data = new Float32Array(t.shape.reduce((a, b) => a * b, 1));
    if (t.std === 0) data.fill(1);
    else fillNormal(data, t.std, streamFor(seed, t.name));
    return new Uint8Array(data.buffer);
  });
  const config = {
    architectures: ['T5ForConditionalGeneration'],
    model_type: 't5',
    vocab_size: r.vocabSize,
    d_model: r.dModel,
    d_kv: r.dKv,
    d_ff: r.dFf,
    num_layers: r.numLayers,
    num_decoder_layers: r.Ld,
    num_heads: r.numHeads,
    relative_attention_num_buckets: r.nb,
    relative_attention_max_distance: r.md,
    dropout_rate: 0,
    layer_norm_epsilon: 1e-6,
    initializer_factor: 1,
    feed_forward_proj: 'gated-gelu',
    dense_act_fn: 'gelu_new',
    is_gated_act: true,
    is_encoder_decoder: true,
    tie_word_embeddings: r.tie,
    use_cache: true,
    pad_token_id: PAD,
    eos_token_id: EOS,
    decoder_start_token_id: PAD,
    torch_dtype: 'float32',
  };
  writeFileSync(join(outDir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  writeFileSync(join(outDir, 'generation_config.json'), `${JSON.stringify({ decoder_start_token_id: PAD, eos_token_id: EOS, pad_token_id: PAD }, null, 2)}\n`);
  if ((opts.tokenizer ?? 'byte-level') === 'byte-level') {
    const tok = byteLevelTokenizer(r.vocabSize, 512);
    // T5's post-processor: "$A </s>" (no BOS).
    (tok.tokenizer as { post_processor: unknown }).post_processor = {
      type: 'TemplateProcessing',
      single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
      pair: [
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '</s>', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 0 } },
        { SpecialToken: { id: '</s>', type_id: 0 } },
      ],
      special_tokens: { '</s>': { id: '</s>', ids: [EOS], tokens: ['</s>'] } },
    };
    const cfg = { ...(tok.config as Record<string, unknown>), add_bos_token: false, pad_token: '<unk>', tokenizer_class: 'PreTrainedTokenizerFast' };
    writeFileSync(join(outDir, 'tokenizer.json'), JSON.stringify(tok.tokenizer));
    writeFileSync(join(outDir, 'tokenizer_config.json'), `${JSON.stringify(cfg, null, 2)}\n`);
    writeFileSync(join(outDir, 'special_tokens_map.json'), `${JSON.stringify({ eos_token: '</s>', unk_token: '<unk>', pad_token: '<unk>' }, null, 2)}\n`);
  }
  return { dir: outDir, numParams };
}
