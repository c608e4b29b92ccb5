// The hyper-parameters of a Llama-family config.json that the GGUF and ONNX writers need, with clear errors for
// the variants they do not write (other architectures, biases, sliding windows, rope scaling other than linear).
import { PeftError } from '../../src/errors.ts';

export interface LlamaHparams {
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  ctx: number;
  eps: number;
  ropeTheta: number;
  ropeScaling?: { type: 'linear'; factor: number };
  tied: boolean;
}

const SUPPORTED = new Set(['llama', 'mistral']);

export function llamaHparams(config: Record<string, unknown>, file: string, format = 'GGUF or ONNX'): LlamaHparams {
  const type = String(config.model_type ?? '');
  if (!SUPPORTED.has(type))
    throw new PeftError(
      'E_MODEL',
      `${file}: model_type "${type}" cannot be written as ${format} by peftmake (ONNX: Llama-family decoders — Llama, Mistral without a sliding window, SmolLM; GGUF: those and GPT-2)`,
      {
        file,
        pointer: '/model_type',
        hint: 'export this model as "peft" or "merged" and convert it with llama.cpp\'s convert_hf_to_gguf.py',
      },
    );
  if (config.attention_bias === true || config.mlp_bias === true)
    throw new PeftError('E_MODEL', `${file}: attention_bias / mlp_bias are set; the GGUF and ONNX writers handle bias-free Llama layers only`, {
      file,
      hint: 'export as "merged" and convert with convert_hf_to_gguf.py',
    });
  if (type === 'mistral' && config.sliding_window != null)
    throw new PeftError('E_MODEL', `${file}: sliding_window ${config.sliding_window} is not written by the GGUF and ONNX writers`, {
      file,
      pointer: '/sliding_window',
    });
  const num = (k: string, d?: number): number => {
    const v = config[k] ?? d;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new PeftError('E_MODEL', `${file}#/${k}: must be a number`, { file, pointer: `/${k}` });
    return v;
  };
  const heads = num('num_attention_heads');
  const hidden = num('hidden_size');
  let ropeScaling: LlamaHparams['ropeScaling'];
  const rs = config.rope_scaling as Record<string, unknown> | null | undefined;
  if (rs) {
    const t = rs.type ?? rs.rope_type;
    if (t !== 'linear' || typeof rs.factor !== 'number')
      throw new PeftError('E_MODEL', `${file}#/rope_scaling: type ${JSON.stringify(t)} is not written by the GGUF and ONNX writers (linear is)`, {
        file,
        pointer: '/rope_scaling',
      });
    ropeScaling = { type: 'linear', factor: rs.factor };
  }
  return {
    hidden,
    intermediate: num('intermediate_size'),
    layers: num('num_hidden_layers'),
    heads,
    kvHeads: num('num_key_value_heads', heads),
    headDim: num('head_dim', hidden / heads),
    vocab: num('vocab_size'),
    ctx: num('max_position_embeddings', 2048),
    eps: num('rms_norm_eps', 1e-6),
    ropeTheta: num('rope_theta', 10000),
    ropeScaling,
    tied: config.tie_word_embeddings !== false,
  };
}
