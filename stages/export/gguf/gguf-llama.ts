// llama.cpp's conventions for a Llama-family model (the `llama` architecture of convert_hf_to_gguf.py): the
// hyper-parameter keys, the tensor names (blk.N.attn_q ...), q/k rows permuted from Hugging Face's rotate-half
// RoPE layout to ggml's interleaved one, and which tensors stay F32 or fall back from block types.
import { PeftError } from '../../../src/errors.ts';
import { GgmlType, kv, type GgufValue } from './gguf-file.ts';
import type { LlamaHparams } from '../llama-hparams.ts';

export { llamaHparams, type LlamaHparams } from '../llama-hparams.ts';

export function llamaMetadata(h: LlamaHparams, name: string, fileType: number): [string, GgufValue][] {
  const m: [string, GgufValue][] = [
    ['general.architecture', kv.str('llama')],
    ['general.type', kv.str('model')],
    ['general.name', kv.str(name)],
    ['general.alignment', kv.u32(32)],
    ['general.file_type', kv.u32(fileType)],
    ['llama.vocab_size', kv.u32(h.vocab)],
    ['llama.context_length', kv.u32(h.ctx)],
    ['llama.embedding_length', kv.u32(h.hidden)],
    ['llama.block_count', kv.u32(h.layers)],
    ['llama.feed_forward_length', kv.u32(h.intermediate)],
    ['llama.rope.dimension_count', kv.u32(h.headDim)],
    ['llama.attention.head_count', kv.u32(h.heads)],
    ['llama.attention.head_count_kv', kv.u32(h.kvHeads)],
    ['llama.attention.key_length', kv.u32(h.headDim)],
    ['llama.attention.value_length', kv.u32(h.headDim)],
    ['llama.attention.layer_norm_rms_epsilon', kv.f32(h.eps)],
    ['llama.rope.freq_base', kv.f32(h.ropeTheta)],
  ];
  if (h.ropeScaling) m.push(['llama.rope.scaling.type', kv.str('linear')], ['llama.rope.scaling.factor', kv.f32(h.ropeScaling.factor)]);
  return m;
}

const LAYER_NAMES: Record<string, string> = {
  'input_layernorm.weight': 'attn_norm.weight',
  'self_attn.q_proj.weight': 'attn_q.weight',
  'self_attn.k_proj.weight': 'attn_k.weight',
  'self_attn.v_proj.weight': 'attn_v.weight',
  'self_attn.o_proj.weight': 'attn_output.weight',
  'post_attention_layernorm.weight': 'ffn_norm.weight',
  'mlp.gate_proj.weight': 'ffn_gate.weight',
  'mlp.up_proj.weight': 'ffn_up.weight',
  'mlp.down_proj.weight': 'ffn_down.weight',
};

/** The GGUF name of a Hugging Face Llama weight, or undefined for tensors llama.cpp does not load (rotary caches). */
export function ggufName(hf: string): string | undefined {
  if (hf === 'model.embed_tokens.weight') return 'token_embd.weight';
  if (hf === 'model.norm.weight') return 'output_norm.weight';
  if (hf === 'lm_head.weight') return 'output.weight';
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(hf);
  if (m && LAYER_NAMES[m[2]]) return `blk.${m[1]}.${LAYER_NAMES[m[2]]}`;
  if (/\.rotary_emb\.inv_freq$/.test(hf)) return undefined;
  throw new PeftError('E_MODEL', `tensor "${hf}" has no llama.cpp name (the GGUF writer knows Llama layers only)`, {
    hint: 'export as "merged" and convert with convert_hf_to_gguf.py',
  });
}

/**
 * Hugging Face stores q/k rows per head as [first halves | second halves] (rotate-half RoPE); ggml's llama RoPE
 * rotates adjacent pairs. Row (h, half, i) moves to (h, i, half), as convert_hf_to_gguf's permute does.
 */
export function permuteRows(data: Float32Array, rows: number, cols: number, heads: number): Float32Array {
  const per = rows / heads;
  const half = per / 2;
  const out = new Float32Array(data.length);
  for (let h = 0; h < heads; h++)
    for (let s = 0; s < 2; s++)
      for (let i = 0; i < half; i++) {
        const from = h * per + s * half + i;
        const to = h * per + i * 2 + s;
        out.set(data.subarray(from * cols, (from + 1) * cols), to * cols);
      }
  return out;
}

/** Heads whose rows a weight's permutation works on: q uses the query heads, k the key/value heads. */
export function permuteHeads(ggName: string, h: LlamaHparams): number | undefined {
  if (ggName.endsWith('.attn_q.weight')) return h.heads;
  if (ggName.endsWith('.attn_k.weight')) return h.kvHeads;
  return undefined;
}

/** The ggml type a tensor is written in for the file's type: norms F32, rows that are not whole blocks F16. */
export function tensorType(ggName: string, ne: number[], want: GgmlType): GgmlType {
  if (ne.length === 1 || want === GgmlType.F32) return GgmlType.F32;
  if (want === GgmlType.F16) return GgmlType.F16;
  if (ne[0] % 32 !== 0) return GgmlType.F16;
  // llama-quantize keeps the embedding / output matrix at higher precision; Q8_0 here for Q4_0 files.
  if (want === GgmlType.Q4_0 && (ggName === 'token_embd.weight' || ggName === 'output.weight')) return GgmlType.Q8_0;
  return want;
}

export const FILE_TYPE: Record<string, { ggml: GgmlType; fileType: number }> = {
  F32: { ggml: GgmlType.F32, fileType: 0 },
  F16: { ggml: GgmlType.F16, fileType: 1 },
  Q4_0: { ggml: GgmlType.Q4_0, fileType: 2 },
  Q8_0: { ggml: GgmlType.Q8_0, fileType: 7 },
};
