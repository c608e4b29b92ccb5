// llama.cpp's conventions for GPT-2 (its `gpt2` architecture): the gpt2.* hyper-parameter keys, the tensor names
// (token_embd, position_embd, blk.N.attn_qkv with its bias ...), Conv1D weights [in, out] transposed to ggml's
// [out, in] rows, and the tied head written out as output.weight, as convert_hf_to_gguf.py does.
import { PeftError } from '../../../src/errors.ts';
import { kv, type GgufValue } from './gguf-file.ts';

export interface Gpt2Hparams {
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  vocab: number;
  ctx: number;
  eps: number;
}

export function gpt2Hparams(config: Record<string, unknown>, file: string): Gpt2Hparams {
  const num = (k: string, d?: number): number => {
    const v = config[k] ?? d;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new PeftError('E_MODEL', `${file}#/${k}: must be a number`, { file, pointer: `/${k}` });
    return v;
  };
  const act = config.activation_function ?? 'gelu_new';
  if (act !== 'gelu_new' && act !== 'gelu_pytorch_tanh')
    throw new PeftError('E_MODEL', `${file}#/activation_function: "${act}" is not llama.cpp's gpt2 activation (gelu_new, the tanh form)`, {
      file,
      pointer: '/activation_function',
      hint: 'export this model as "peft" or "merged"',
    });
  const hidden = num('n_embd');
  return {
    hidden,
    intermediate: num('n_inner', 4 * hidden),
    layers: num('n_layer'),
    heads: num('n_head'),
    vocab: num('vocab_size'),
    ctx: num('n_positions'),
    eps: num('layer_norm_epsilon', 1e-5),
  };
}

export function gpt2Metadata(h: Gpt2Hparams, name: string, fileType: number): [string, GgufValue][] {
  return [
    ['general.architecture', kv.str('gpt2')],
    ['general.type', kv.str('model')],
    ['general.name', kv.str(name)],
    ['general.alignment', kv.u32(32)],
    ['general.file_type', kv.u32(fileType)],
    ['gpt2.vocab_size', kv.u32(h.vocab)],
    ['gpt2.context_length', kv.u32(h.ctx)],
    ['gpt2.embedding_length', kv.u32(h.hidden)],
    ['gpt2.block_count', kv.u32(h.layers)],
    ['gpt2.feed_forward_length', kv.u32(h.intermediate)],
    ['gpt2.attention.head_count', kv.u32(h.heads)],
    ['gpt2.attention.layer_norm_epsilon', kv.f32(h.eps)],
  ];
}

const LAYER_NAMES: Record<string, string> = {
  ln_1: 'attn_norm',
  'attn.c_attn': 'attn_qkv',
  'attn.c_proj': 'attn_output',
  ln_2: 'ffn_norm',
  'mlp.c_fc': 'ffn_up',
  'mlp.c_proj': 'ffn_down',
};

/**
 * The GGUF name of a Hugging Face GPT-2 tensor and whether it is a Conv1D weight stored [in, out] (to transpose),
 * or undefined for buffers llama.cpp does not load (attn.bias / attn.masked_bias causal masks).
 */
export function gpt2GgufName(hf: string): { name: string; conv1d: boolean } | undefined {
  const k = hf.replace(/^transformer\./, '');
  if (k === 'wte.weight') return { name: 'token_embd.weight', conv1d: false };
  if (k === 'wpe.weight') return { name: 'position_embd.weight', conv1d: false };
  if (k === 'ln_f.weight' || k === 'ln_f.bias') return { name: `output_norm.${k.slice(5)}`, conv1d: false };
  if (k === 'lm_head.weight') return { name: 'output.weight', conv1d: false };
  if (/^h\.\d+\.attn\.(masked_)?bias$/.test(k)) return undefined;
  const m = /^h\.(\d+)\.(.+)\.(weight|bias)$/.exec(k);
  if (m && LAYER_NAMES[m[2]]) return { name: `blk.${m[1]}.${LAYER_NAMES[m[2]]}.${m[3]}`, conv1d: m[3] === 'weight' && !m[2].startsWith('ln_') };
  throw new PeftError('E_MODEL', `tensor "${hf}" has no llama.cpp gpt2 name`, { hint: 'export as "merged" and convert with convert_hf_to_gguf.py' });
}

/** A row-major [rows, cols] matrix transposed to [cols, rows]. */
export function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}
