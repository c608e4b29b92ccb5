// Creates a deterministic random-init Llama-family or GPT-2 model of any shape in Hugging Face layout (config.json,
// generation_config.json, model.safetensors and, unless given, a byte-level BPE tokenizer) for tests and benchmarks.
import { copyFileSync, existsSync, mkdirSync, statfsSync, writeFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { createHash } from 'node:crypto';
import { PeftError } from '../errors.ts';
import { writeSafetensorsStream, type TensorSpec } from '../hf/safetensors.ts';

export type InitModelType = 'llama' | 'mistral' | 'qwen2' | 'gpt2' | 'mixtral' | 'minimax_m2';
const MOE_TYPES: readonly string[] = ['mixtral', 'minimax_m2'];

export interface LlamaShape {
  /** gpt2: GPT2LMHeadModel (Conv1D weights [in, out], LayerNorm with bias, learned positions, gelu_new, tied head);
   * mixtral / minimax_m2: sparse mixture of experts. */
  modelType?: InitModelType;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  /** Defaults to numHeads (multi-head attention). */
  numKvHeads?: number;
  /** Defaults to hiddenSize / numHeads; written to config.json only when it differs. */
  headDim?: number;
  maxPositionEmbeddings?: number;
  rmsNormEps?: number;
  ropeTheta?: number;
  /** Defaults to true (one embedding matrix, no lm_head.weight stored). */
  tieWordEmbeddings?: boolean;
  /** Llama: bias on q, k, v and o (zeros, as transformers initialises them). Qwen2 always has q/k/v biases. */
  attentionBias?: boolean;
  /** Mistral only: attention window (default 4096, as MistralConfig). */
  slidingWindow?: number;
  /** mixtral / minimax_m2: experts per layer (default 8), each of width intermediateSize. */
  numExperts?: number;
  /** mixtral / minimax_m2: experts routed per token (default 2 for mixtral, 4 for minimax_m2). */
  expertsPerTok?: number;
  /** minimax_m2: rotated dims per head (partial rotary; default headDim / 2). */
  rotaryDim?: number;
}

export interface InitModelOptions extends LlamaShape {
  /** Seed of the weights (default 0). Same seed and shape give byte-identical files. */
  seed?: number;
  /** Standard deviation of the normal init of every linear and embedding weight (transformers' initializer_range, 0.02). */
  initStd?: number;
  /** Storage dtype of model.safetensors (default F32). F8_E4M3: the linear projections as float8_e4m3fn with a
   * `<name>_scale_inv` per 128 x 128 block and config quantization_config (the hub MiniMax-M2 / DeepSeek-V3 layout;
   * the block scale is 6 initStd / 448, so values beyond 6 standard deviations clip), everything else bf16. */
  dtype?: 'F32' | 'BF16' | 'F8_E4M3';
  /** 'byte-level' (default): write a byte-level BPE tokenizer; 'none': no tokenizer; otherwise a directory to copy it from. */
  tokenizer?: string;
}

export interface InitModelResult {
  dir: string;
  numParams: number;
  files: string[];
}

/** The shape of HuggingFaceTB/SmolLM2-135M (the benchmark model). */
export const SMOLLM2_135M_SHAPE: Readonly<LlamaShape> = Object.freeze({
  modelType: 'llama',
  vocabSize: 49152,
  hiddenSize: 576,
  intermediateSize: 1536,
  numLayers: 30,
  numHeads: 9,
  numKvHeads: 3,
  maxPositionEmbeddings: 8192,
  rmsNormEps: 1e-5,
  ropeTheta: 100000,
  tieWordEmbeddings: true,
});

const BOS = 1;
const EOS = 2;
const SPECIALS = ['<unk>', '<s>', '</s>'];

function bad(msg: string, hint: string): never {
  throw new PeftError('E_MODEL', `init model: ${msg}`, { hint });
}

function checkInt(name: string, v: number | undefined, min: number): void {
  if (v === undefined || !Number.isSafeInteger(v) || v < min) bad(`${name} must be an integer >= ${min}, got ${v}`, `set ${name}`);
}

interface Resolved {
  modelType: InitModelType;
  E: number; // experts per layer (0: dense MLP)
  K: number; // experts per token
  rot: number; // rotary dims per head (minimax_m2)
  V: number;
  H: number;
  I: number;
  L: number;
  nh: number;
  nkv: number;
  hd: number;
  tie: boolean;
  qkvBias: boolean;
  oBias: boolean;
  P: number; // max positions (gpt2: the wpe rows, n_positions)
}

function resolveShape(o: LlamaShape): Resolved {
  checkInt('vocabSize', o.vocabSize, 1);
  checkInt('hiddenSize', o.hiddenSize, 1);
  checkInt('intermediateSize', o.intermediateSize, 1);
  checkInt('numLayers', o.numLayers, 1);
  checkInt('numHeads', o.numHeads, 1);
  const nkv = o.numKvHeads ?? o.numHeads;
  checkInt('numKvHeads', nkv, 1);
  if (o.numHeads % nkv !== 0) bad(`numHeads ${o.numHeads} is not a multiple of numKvHeads ${nkv}`, 'use whole GQA groups');
  const hd = o.headDim ?? o.hiddenSize / o.numHeads;
  if (!Number.isSafeInteger(hd) || hd < 2 || hd % 2 !== 0)
    bad(`head dim ${hd} must be an even integer`, 'set headDim or make hiddenSize divisible by numHeads');
  const modelType = o.modelType ?? 'llama';
  if (!['llama', 'mistral', 'qwen2', 'gpt2', ...MOE_TYPES].includes(modelType))
    bad(`modelType "${modelType}" is not supported`, 'use llama, mistral, qwen2, gpt2, mixtral or minimax_m2');
  const moe = MOE_TYPES.includes(modelType);
  const E = moe ? (o.numExperts ?? 8) : 0;
  const K = moe ? (o.expertsPerTok ?? (modelType === 'mixtral' ? 2 : 4)) : 0;
  if (moe) {
    checkInt('numExperts', E, 1);
    checkInt('expertsPerTok', K, 1);
    if (K > E) bad(`expertsPerTok ${K} exceeds numExperts ${E}`, 'route to at most numExperts experts');
  }
  const rot = modelType === 'minimax_m2' ? (o.rotaryDim ?? hd / 2) : hd;
  if (!Number.isSafeInteger(rot) || rot < 2 || rot % 2 !== 0 || rot > hd) bad(`rotaryDim ${rot} must be even and at most the head dim ${hd}`, 'set rotaryDim');
  if (modelType === 'gpt2' && nkv !== o.numHeads) bad('GPT-2 has no grouped-query attention (numKvHeads must equal numHeads)', 'leave numKvHeads out');
  if (modelType === 'gpt2' && o.tieWordEmbeddings === false) bad('GPT-2 ties its head to the embeddings', 'leave tieWordEmbeddings out');
  const llamaBias = modelType === 'llama' && (o.attentionBias ?? false);
  return {
    modelType,
    E,
    K,
    rot,
    V: o.vocabSize,
    H: o.hiddenSize,
    I: o.intermediateSize,
    L: o.numLayers,
    nh: o.numHeads,
    nkv,
    hd,
    tie: o.tieWordEmbeddings ?? !moe,
    qkvBias: llamaBias || modelType === 'qwen2',
    oBias: llamaBias,
    P: o.maxPositionEmbeddings ?? (modelType === 'gpt2' ? 1024 : 2048),
  };
}

type PlannedTensor = TensorSpec & { init: 'normal' | 'ones' | 'zeros' | 'scale' };
const FP8_BLOCK = 128;
const isProjection = (name: string) => /(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj|w1|w2|w3)\.weight$/.test(name);
/** The block scale (weight_scale_inv) of an FP8 init: 6 standard deviations at e4m3's largest value, 448. */
const fp8Scale = (std: number): number => Math.fround((6 * (std || 1)) / 448);

/** FP8 checkpoint layout: projections F8_E4M3 with their [rows / 128, cols / 128] F32 scales, the rest bf16. */
function fp8Plan(plan: PlannedTensor[]): PlannedTensor[] {
  return plan.flatMap((t): PlannedTensor[] =>
    isProjection(t.name) && t.shape.length === 2
      ? [
          { ...t, dtype: 'F8_E4M3' },
          { name: `${t.name}_scale_inv`, dtype: 'F32', shape: t.shape.map((d) => Math.ceil(d / FP8_BLOCK)), init: 'scale' },
        ]
      : [{ ...t, dtype: 'BF16' }],
  );
}

let E4M3_OF_BF16: Uint8Array | undefined;
/** float8_e4m3fn codes of x * invScale (round to nearest through bf16, saturating at 448), one table look-up each. */
function toE4m3(src: Float32Array, invScale: number): Uint8Array {
  if (!E4M3_OF_BF16) {
    const value = (c: number) => {
      const e = (c >> 3) & 15,
        m = c & 7;
      return e === 0 ? (m / 8) * 2 ** -6 : (1 + m / 8) * 2 ** (e - 7);
    };
    const codes = Array.from({ length: 127 }, (_, c) => value(c)); // 0..126 ascending; 127 is NaN
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    E4M3_OF_BF16 = new Uint8Array(65536);
    for (let b = 0; b < 65536; b++) {
      u[0] = b << 16;
      const a = Math.min(Math.abs(f[0]), 448);
      let best = 0;
      for (let c = 1; c < 127 && codes[c] <= a; c++) best = c;
      if (best < 126 && codes[best + 1] - a < a - codes[best]) best++;
      E4M3_OF_BF16[b] = Number.isNaN(f[0]) ? 0x7f : (b & 0x8000 ? 0x80 : 0) | best;
    }
  }
  const scaled = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) scaled[i] = src[i] * invScale;
  const bf = new Uint16Array(toBf16(scaled).buffer);
  const out = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = E4M3_OF_BF16[bf[i]];
  return out;
}

/** The tensors of the model in HF names with shapes, and how each is initialised. */
function tensorPlan(r: Resolved): PlannedTensor[] {
  const q = r.nh * r.hd,
    kv = r.nkv * r.hd;
  const t: PlannedTensor[] = [];
  const add = (name: string, shape: number[], init: 'normal' | 'ones' | 'zeros') => t.push({ name, dtype: 'F32', shape, init });
  if (r.modelType === 'gpt2') {
    gpt2TensorPlan(r, add);
    return t;
  }
  add('model.embed_tokens.weight', [r.V, r.H], 'normal');
  add('model.norm.weight', [r.H], 'ones');
  if (!r.tie) add('lm_head.weight', [r.V, r.H], 'normal');
  for (let l = 0; l < r.L; l++) {
    const p = `model.layers.${l}.`;
    add(p + 'input_layernorm.weight', [r.H], 'ones');
    add(p + 'post_attention_layernorm.weight', [r.H], 'ones');
    add(p + 'self_attn.q_proj.weight', [q, r.H], 'normal');
    add(p + 'self_attn.k_proj.weight', [kv, r.H], 'normal');
    add(p + 'self_attn.v_proj.weight', [kv, r.H], 'normal');
    add(p + 'self_attn.o_proj.weight', [r.H, q], 'normal');
    if (r.modelType === 'minimax_m2') {
      add(p + 'self_attn.q_norm.weight', [q], 'ones');
      add(p + 'self_attn.k_norm.weight', [kv], 'ones');
    }
    if (r.E > 0) {
      // sparse MoE block (Mixtral / MiniMax-M2 checkpoint names): router, correction bias, experts
      add(p + 'block_sparse_moe.gate.weight', [r.E, r.H], 'normal');
      if (r.modelType === 'minimax_m2') add(p + 'block_sparse_moe.e_score_correction_bias', [r.E], 'zeros');
      for (let e = 0; e < r.E; e++) {
        const x = `${p}block_sparse_moe.experts.${e}.`;
        add(x + 'w1.weight', [r.I, r.H], 'normal');
        add(x + 'w2.weight', [r.H, r.I], 'normal');
        add(x + 'w3.weight', [r.I, r.H], 'normal');
      }
    } else {
      add(p + 'mlp.gate_proj.weight', [r.I, r.H], 'normal');
      add(p + 'mlp.up_proj.weight', [r.I, r.H], 'normal');
      add(p + 'mlp.down_proj.weight', [r.H, r.I], 'normal');
    }
    if (r.qkvBias) {
      add(p + 'self_attn.q_proj.bias', [q], 'zeros');
      add(p + 'self_attn.k_proj.bias', [kv], 'zeros');
      add(p + 'self_attn.v_proj.bias', [kv], 'zeros');
    }
    if (r.oBias) add(p + 'self_attn.o_proj.bias', [r.H], 'zeros');
  }
  return t;
}

/** GPT-2's tensors as GPT2LMHeadModel names them (Conv1D weights [in, out], every LayerNorm and projection biased). */
function gpt2TensorPlan(r: Resolved, put: (name: string, shape: number[], init: 'normal' | 'ones' | 'zeros') => void): void {
  put('transformer.wte.weight', [r.V, r.H], 'normal');
  put('transformer.wpe.weight', [r.P, r.H], 'normal');
  for (let l = 0; l < r.L; l++) {
    const p = `transformer.h.${l}.`;
    for (const ln of ['ln_1', 'ln_2']) {
      put(`${p}${ln}.weight`, [r.H], 'ones');
      put(`${p}${ln}.bias`, [r.H], 'zeros');
    }
    const convs: [string, number, number][] = [
      ['attn.c_attn', r.H, 3 * r.H],
      ['attn.c_proj', r.H, r.H],
      ['mlp.c_fc', r.H, r.I],
      ['mlp.c_proj', r.I, r.H],
    ];
    for (const [name, i, o] of convs) {
      put(`${p}${name}.weight`, [i, o], 'normal');
      put(`${p}${name}.bias`, [o], 'zeros');
    }
  }
  put('transformer.ln_f.weight', [r.H], 'ones');
  put('transformer.ln_f.bias', [r.H], 'zeros');
}

/** xoshiro128** seeded from SHA-256(seed, tensor name): one independent stream per tensor. */
export function streamFor(seed: number, name: string): () => number {
  const h = createHash('sha256').update(`peftmake-init:${seed}:${name}`).digest();
  let a = h.readUInt32LE(0),
    b = h.readUInt32LE(4),
    c = h.readUInt32LE(8),
    d = h.readUInt32LE(12);
  if ((a | b | c | d) === 0) a = 1;
  return () => {
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result;
  };
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Values made and written at a time (even, so Box-Muller pairs never straddle two chunks). */
const CHUNK = 1 << 22;

/** Fills `out` with normal(0, std) samples (Box-Muller on 32-bit uniforms). */
export function fillNormal(out: Float32Array, std: number, next: () => number): void {
  const inv = 1 / 4294967296;
  const n = out.length;
  for (let i = 0; i < n; i += 2) {
    const u1 = (next() + 0.5) * inv; // (0, 1): log is finite
    const u2 = next() * inv;
    const rad = std * Math.sqrt(-2 * Math.log(u1));
    const th = 2 * Math.PI * u2;
    out[i] = rad * Math.cos(th);
    if (i + 1 < n) out[i + 1] = rad * Math.sin(th);
  }
}

/** float32 -> bfloat16 (round to nearest even) over a whole array. */
function toBf16(src: Float32Array): Uint8Array {
  const u32 = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const u = u32[i];
    out[i] = (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
  }
  return new Uint8Array(out.buffer);
}

/** GPT-2's byte -> printable unicode map used by byte-level BPE. */
export function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const map: string[] = new Array(256);
  for (const b of bs) map[b] = String.fromCodePoint(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (map[b] === undefined) map[b] = String.fromCodePoint(256 + n++);
  return map;
}

/**
 * A byte-level BPE tokenizer.json covering exactly `vocabSize` ids: 0-2 specials (<unk>, <s>, </s>), 3-258 the 256
 * bytes, then two-byte merges (common ASCII first) so every id decodes to text.
 */
export function byteLevelTokenizer(vocabSize: number, maxLen: number, addBos = true): { tokenizer: object; config: object; specialTokensMap: object } {
  if (vocabSize < 3 + 256) {
    bad(
      `a byte-level tokenizer needs vocabSize >= 259 (3 specials + 256 bytes), got ${vocabSize}`,
      'raise vocabSize, or pass tokenizer: "none" or a tokenizer directory',
    );
  }
  const u = bytesToUnicode();
  const vocab: Record<string, number> = {};
  SPECIALS.forEach((s, i) => (vocab[s] = i));
  for (let b = 0; b < 256; b++) vocab[u[b]] = 3 + b;
  const priority: number[] = [];
  const seen = new Set<number>();
  const push = (b: number) => {
    if (!seen.has(b)) {
      seen.add(b);
      priority.push(b);
    }
  };
  for (const ch of 'etaoinshrdlcumwfgypbvkjxqz ') push(ch.charCodeAt(0));
  for (let b = 65; b <= 90; b++) push(b);
  for (let b = 48; b <= 57; b++) push(b);
  for (const ch of '.,\'"!?;:-\n()') push(ch.charCodeAt(0));
  for (let b = 0; b < 256; b++) push(b);
  const merges: string[] = [];
  let id = 259;
  // pairs ordered by the later member's priority, so merges among common characters come first
  outer: for (let k = 0; k < 256; k++) {
    for (let i = 0; i <= k; i++) {
      const pairs =
        i === k
          ? [[priority[k], priority[k]]]
          : [
              [priority[i], priority[k]],
              [priority[k], priority[i]],
            ];
      for (const [a, b] of pairs) {
        if (id >= vocabSize) break outer;
        vocab[u[a] + u[b]] = id++;
        merges.push(`${u[a]} ${u[b]}`);
      }
    }
  }
  const added = SPECIALS.map((content, i) => ({ id: i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: !addBos
      ? null
      : {
          type: 'TemplateProcessing',
          single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
          pair: [
            { SpecialToken: { id: '<s>', type_id: 0 } },
            { Sequence: { id: 'A', type_id: 0 } },
            { SpecialToken: { id: '<s>', type_id: 1 } },
            { Sequence: { id: 'B', type_id: 1 } },
          ],
          special_tokens: { '<s>': { id: '<s>', ids: [BOS], tokens: ['<s>'] } },
        },
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
  const addedDecoder: Record<string, object> = {};
  for (const a of added) {
    const { id: i, ...rest } = a;
    addedDecoder[String(i)] = rest;
  }
  const config = {
    add_bos_token: addBos, // GPT-2 models start without BOS
    add_eos_token: false,
    added_tokens_decoder: addedDecoder,
    bos_token: '<s>',
    eos_token: '</s>',
    unk_token: '<unk>',
    pad_token: null,
    clean_up_tokenization_spaces: false,
    model_max_length: maxLen,
    tokenizer_class: 'PreTrainedTokenizerFast',
  };
  return { tokenizer, config, specialTokensMap: { bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>' } };
}

/** The config.json transformers would write for this shape. */
function configJson(r: Resolved, o: InitModelOptions): Record<string, unknown> {
  if (r.modelType === 'gpt2')
    return {
      activation_function: 'gelu_new',
      architectures: ['GPT2LMHeadModel'],
      bos_token_id: BOS,
      eos_token_id: EOS,
      initializer_range: o.initStd ?? 0.02,
      layer_norm_epsilon: o.rmsNormEps ?? 1e-5,
      model_type: 'gpt2',
      n_embd: r.H,
      n_head: r.nh,
      n_inner: r.I,
      n_layer: r.L,
      n_positions: r.P,
      scale_attn_weights: true,
      tie_word_embeddings: true,
      torch_dtype: (o.dtype ?? 'F32') === 'F32' ? 'float32' : 'bfloat16',
      vocab_size: r.V,
    };
  const arch = {
    llama: 'LlamaForCausalLM',
    mistral: 'MistralForCausalLM',
    qwen2: 'Qwen2ForCausalLM',
    mixtral: 'MixtralForCausalLM',
    minimax_m2: 'MiniMaxM2ForCausalLM',
  }[r.modelType as Exclude<InitModelType, 'gpt2'>];
  const c: Record<string, unknown> = {
    architectures: [arch],
    model_type: r.modelType,
    vocab_size: r.V,
    hidden_size: r.H,
    intermediate_size: r.I,
    num_hidden_layers: r.L,
    num_attention_heads: r.nh,
    num_key_value_heads: r.nkv,
    hidden_act: 'silu',
    max_position_embeddings: o.maxPositionEmbeddings ?? 2048,
    rms_norm_eps: o.rmsNormEps ?? 1e-5,
    rope_theta: o.ropeTheta ?? 10000,
    rope_scaling: null,
    tie_word_embeddings: r.tie,
    initializer_range: o.initStd ?? 0.02,
    bos_token_id: BOS,
    eos_token_id: EOS,
    torch_dtype: (o.dtype ?? 'F32') === 'F32' ? 'float32' : 'bfloat16',
  };
  if (r.hd !== r.H / r.nh) c.head_dim = r.hd;
  if (r.modelType === 'llama') {
    c.attention_bias = r.oBias;
    c.mlp_bias = false;
  }
  if (r.modelType === 'mistral') c.sliding_window = o.slidingWindow ?? 4096;
  if (r.modelType === 'qwen2') c.use_sliding_window = false;
  if (r.E > 0) {
    Object.assign(c, { num_local_experts: r.E, num_experts_per_tok: r.K, output_router_logits: false, router_aux_loss_coef: 0.001, router_jitter_noise: 0 });
    if (r.modelType === 'mixtral') c.sliding_window = null;
  }
  if (r.modelType === 'minimax_m2') {
    // transformers v5 MiniMaxM2Config layout: head_dim always, rope_parameters with the partial rotary factor
    c.head_dim = r.hd;
    c.rope_parameters = { rope_type: 'default', rope_theta: c.rope_theta, partial_rotary_factor: r.rot / r.hd };
    delete c.rope_scaling;
  }
  if (o.dtype === 'F8_E4M3')
    c.quantization_config = { quant_method: 'fp8', fmt: 'e4m3', activation_scheme: 'dynamic', weight_block_size: [FP8_BLOCK, FP8_BLOCK] };
  return c;
}

/** The tensors (HF names, shapes) a shape implies and its parameter count, without writing anything. */
export function planModel(shape: LlamaShape): { tensors: { name: string; shape: number[] }[]; numParams: number } {
  const tensors = tensorPlan(resolveShape(shape)).map(({ name, shape: s }) => ({ name, shape: s }));
  return { tensors, numParams: tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0) };
}

const gb = (n: number): string => `${(n / 1e9).toFixed(1)} GB`;

/** Before writing a byte: the weights must fit on the disk and in memory (loading them for training needs that much). */
export function checkRoom(outDir: string, bytes: number): void {
  let probe = outDir;
  while (!existsSync(probe) && dirname(probe) !== probe) probe = dirname(probe);
  const st = statfsSync(probe);
  const free = Number(st.bavail) * Number(st.bsize);
  if (bytes > free)
    bad(
      `the model's weights need ${gb(bytes)} on disk and ${probe} has ${gb(free)} free; nothing was written`,
      'make the init shape smaller, or free disk space',
    );
  if (bytes > totalmem())
    bad(`the model's weights need ${gb(bytes)} of memory to load and this machine has ${gb(totalmem())}; nothing was written`, 'make the init shape smaller');
}

/** Writes the model into `outDir` (created if needed) and returns its parameter count. */
export function initModel(outDir: string, opts: InitModelOptions): InitModelResult {
  const r = resolveShape(opts);
  const seed = opts.seed ?? 0;
  if (!Number.isSafeInteger(seed)) bad(`seed must be an integer, got ${seed}`, 'set seed');
  const std = opts.initStd ?? 0.02;
  if (!(std >= 0) || !Number.isFinite(std)) bad(`initStd must be a non-negative number, got ${std}`, 'set initStd');
  const dtype = opts.dtype ?? 'F32';
  if (!['F32', 'BF16', 'F8_E4M3'].includes(dtype)) bad(`dtype "${dtype}" is not supported`, 'use F32, BF16 or F8_E4M3');
  const fp8 = dtype === 'F8_E4M3';
  if (fp8 && r.modelType === 'gpt2') bad('F8_E4M3 init is for the Llama and MoE families (GPT-2 checkpoints ship in float)', 'use F32 or BF16');
  const plan = fp8 ? fp8Plan(tensorPlan(r)) : tensorPlan(r).map((t) => ({ ...t, dtype }));
  checkRoom(
    outDir,
    plan.reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1) * (t.dtype === 'F8_E4M3' ? 1 : t.dtype === 'BF16' ? 2 : 4), 0),
  );
  mkdirSync(outDir, { recursive: true });
  const files: string[] = [];

  const cfg = configJson(r, opts);
  const tokSource = opts.tokenizer ?? 'byte-level';
  const tok = tokSource === 'byte-level' ? byteLevelTokenizer(r.V, r.P, r.modelType !== 'gpt2') : undefined;

  // Each tensor is made and written in chunks of CHUNK values (one random stream per tensor, continued across
  // chunks: the bytes are those of a whole-tensor fill), so a 7B model never has more than one chunk in memory.
  writeSafetensorsStream(join(outDir, 'model.safetensors'), plan, function* (spec) {
    const t = plan.find((p) => p.name === spec.name)!;
    const n = t.shape.reduce((a, b) => a * b, 1);
    const next = t.init === 'normal' ? streamFor(seed, t.name) : undefined;
    for (let at = 0; at < n; at += CHUNK) {
      const data = new Float32Array(Math.min(CHUNK, n - at));
      if (t.init === 'ones') data.fill(1);
      else if (t.init === 'scale') data.fill(fp8Scale(std));
      else if (next) fillNormal(data, std, next);
      yield t.dtype === 'BF16' ? toBf16(data) : t.dtype === 'F8_E4M3' ? toE4m3(data, 1 / fp8Scale(std)) : new Uint8Array(data.buffer);
    }
  });
  files.push('model.safetensors');
  writeFileSync(join(outDir, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
  writeFileSync(join(outDir, 'generation_config.json'), JSON.stringify({ bos_token_id: BOS, eos_token_id: EOS }, null, 2) + '\n');
  files.push('config.json', 'generation_config.json');

  if (tok) {
    writeFileSync(join(outDir, 'tokenizer.json'), JSON.stringify(tok.tokenizer));
    writeFileSync(join(outDir, 'tokenizer_config.json'), JSON.stringify(tok.config, null, 2) + '\n');
    writeFileSync(join(outDir, 'special_tokens_map.json'), JSON.stringify(tok.specialTokensMap, null, 2) + '\n');
    files.push('tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json');
  } else if (tokSource !== 'none') {
    if (!existsSync(join(tokSource, 'tokenizer.json')))
      bad(`no tokenizer.json in ${tokSource}`, 'point tokenizer at a model directory with tokenizer.json, or use "byte-level"');
    for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) {
      if (existsSync(join(tokSource, f))) {
        copyFileSync(join(tokSource, f), join(outDir, f));
        files.push(f);
      }
    }
  }
  const numParams = plan.reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0);
  return { dir: outDir, numParams, files: files.sort() };
}
