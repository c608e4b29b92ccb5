// JSON Schema fragment for one entry of `exports`: an adapter or a composition written at a project path as a PEFT
// adapter, a merged Hugging Face model, a GGUF set for llama.cpp or an ONNX decoder for onnxruntime.
import type { JsonSchema } from '../../src/stage.ts';
import { descriptionProperty } from '../shared/schema-fields.ts';

export const EXPORT_FORMATS = ['peft', 'merged', 'gguf', 'onnx'] as const;
export const GGUF_TYPES = ['F32', 'F16', 'Q8_0', 'Q4_0'] as const;

export const exportSchema: JsonSchema = {
  type: 'object',
  description:
    'Writes an adapter or a composition at `path` for use outside peftmake: a PEFT adapter, a merged model, GGUF files for llama.cpp or an ONNX decoder.',
  additionalProperties: false,
  required: ['path'],
  properties: {
    description: descriptionProperty,
    adapter: {
      type: 'string',
      minLength: 1,
      description: 'Adapter name in `adapters` to export (with the frozen adapters it was trained on, for merged / gguf / onnx).',
    },
    composition: {
      type: 'string',
      minLength: 1,
      description: 'Composition name in `compositions` to export: a stack exports each adapter, a merged method its one adapter.',
    },
    path: { type: 'string', minLength: 1, description: 'Project-relative directory the export is materialised at.' },
    format: {
      enum: [...EXPORT_FORMATS],
      default: 'peft',
      description:
        'peft: adapter_config.json + adapter_model.safetensors + tokenizer + README.md; merged: Hugging Face model dir with the adapters folded in; gguf: base.gguf + one LoRA GGUF per adapter + merged.gguf for llama.cpp; onnx: decoder with KV cache for onnxruntime / transformers.js.',
    },
    dtype: { enum: ['bf16', 'fp16', 'fp32'], description: 'merged: weight dtype of the safetensors (default bf16); onnx: fp32 (default) or fp16.' },
    maxShardMB: {
      type: 'number',
      exclusiveMinimum: 0,
      default: 2048,
      description: 'merged: largest safetensors shard in MiB (past it, model-0000i-of-0000n.safetensors + index).',
    },
    type: {
      enum: [...GGUF_TYPES],
      default: 'F16',
      description: 'gguf: tensor type of the base / merged model (LoRA GGUFs are F32 for F32, else F16); norms stay F32.',
    },
  },
  oneOf: [{ required: ['adapter'] }, { required: ['composition'] }],
};
