// JSON Schema fragment for one entry of `models`: a base model from a local directory, the hub, or a seeded random init.
import type { JsonSchema } from '../../src/stage.ts';
import { descriptionProperty } from '../shared/schema-fields.ts';

const int = (description: string, def: number | undefined, minimum = 1): JsonSchema =>
  def === undefined ? { type: 'integer', minimum, description } : { type: 'integer', minimum, default: def, description };

export const initSchema: JsonSchema = {
  type: 'object',
  description: 'Build a deterministic random-init model of this Llama-family or GPT-2 shape (tests, benchmarks), with a byte-level tokenizer.',
  additionalProperties: false,
  required: ['hiddenSize', 'numLayers', 'numHeads', 'intermediateSize'],
  properties: {
    modelType: {
      enum: ['llama', 'mistral', 'qwen2', 'gpt2', 't5', 'mixtral', 'minimax_m2'],
      default: 'llama',
      description:
        'Architecture written to config.json. gpt2: GPT2LMHeadModel, maxPositionEmbeddings is n_positions; no RoPE, no GQA. t5: a T5 v1.1 / FLAN-T5 encoder-decoder (hiddenSize = d_model, intermediateSize = d_ff, numLayers per stack, untied head unless tieWordEmbeddings). mixtral, minimax_m2: sparse mixture of experts (numExperts, expertsPerTok; minimax_m2 rotaryDim).',
    },
    numDecoderLayers: int('t5 only: decoder layers; 0 = numLayers.', 0, 0),
    headDim: int('Per-head width (t5: d_kv); 0 = hiddenSize / numHeads.', 0, 0),
    vocabSize: int('Vocabulary size (the byte-level tokenizer needs at least 259).', 512, 259),
    hiddenSize: int('Hidden size (d_model).', undefined),
    intermediateSize: int('MLP intermediate size.', undefined),
    numLayers: int('Number of decoder layers.', undefined),
    numHeads: int('Attention heads.', undefined),
    numKvHeads: int('Key/value heads (GQA); defaults to numHeads.', 0, 0),
    maxPositionEmbeddings: int('Maximum sequence length.', 2048),
    rmsNormEps: { type: 'number', exclusiveMinimum: 0, default: 1e-5, description: 'RMSNorm epsilon.' },
    ropeTheta: { type: 'number', exclusiveMinimum: 0, default: 10000, description: 'RoPE base frequency.' },
    tieWordEmbeddings: {
      type: 'boolean',
      default: true,
      description: 'Share the embedding matrix with lm_head (t5: set false for the T5 v1.1 / FLAN-T5 layout).',
    },
    dtype: { enum: ['F32', 'BF16'], default: 'F32', description: 'Stored weight dtype.' },
    seed: { type: 'integer', minimum: 0, default: 0, description: 'Random seed of the initialisation.' },
    numExperts: int('mixtral / minimax_m2: experts per layer (each intermediateSize wide).', 8),
    expertsPerTok: int("mixtral / minimax_m2: experts routed per token; 0 = the model type's default (2 for mixtral, 4 for minimax_m2).", 0, 0),
    rotaryDim: int('minimax_m2: rotated dims per head (partial rotary); 0 = head dim / 2.', 0, 0),
  },
};

export const modelSchema: JsonSchema = {
  type: 'object',
  description: 'A base model: exactly one of `path` (local Hugging Face layout), `hub` (+ `revision`) or `init` (random init).',
  additionalProperties: false,
  properties: {
    description: descriptionProperty,
    path: {
      type: 'string',
      minLength: 1,
      description: 'Directory with config.json, *.safetensors and tokenizer.json; relative to the project or absolute.',
    },
    hub: { type: 'string', minLength: 1, description: 'Hugging Face hub model id, e.g. "HuggingFaceTB/SmolLM2-135M".' },
    revision: {
      type: 'string',
      minLength: 1,
      default: 'main',
      description: 'Hub branch, tag or commit; the commit sha it resolves to is recorded and joins the key.',
    },
    init: initSchema,
  },
  oneOf: [{ required: ['path'] }, { required: ['hub'] }, { required: ['init'] }],
};
