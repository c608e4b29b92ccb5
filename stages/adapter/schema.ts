// JSON Schema fragment for one entry of `adapters`: a LoRA / QLoRA adapter trained on a dataset, optionally on top of frozen adapters.
import type { JsonSchema } from '../../src/stage.ts';
import { baseModelProperty, descriptionProperty } from '../shared/schema-fields.ts';

export const loraSchema: JsonSchema = {
  type: 'object',
  description: 'LoRA hyper-parameters: y = Wx + s·B(A(dropout(x))), s = alpha/r (alpha/sqrt(r) with rslora).',
  additionalProperties: false,
  default: {},
  properties: {
    r: { type: 'integer', minimum: 1, default: 16, description: 'Rank of the update.' },
    alpha: { type: 'number', exclusiveMinimum: 0, default: 32, description: 'Scaling numerator (scale = alpha / r).' },
    dropout: { type: 'number', minimum: 0, maximum: 1, exclusiveMaximum: 1, default: 0.05, description: 'Dropout on the LoRA input during training.' },
    targets: {
      description:
        '"all-linear" or a list of module names: Llama family q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj; GPT-2 c_attn, c_proj (attn and mlp), c_fc; T5 q, k, v, o (self- and cross-attention), wi_0, wi_1, wo. The engine checks them against the base model.',
      default: 'all-linear',
      anyOf: [
        { const: 'all-linear' },
        {
          type: 'array',
          minItems: 1,
          uniqueItems: true,
          items: {
            enum: [
              'q_proj',
              'k_proj',
              'v_proj',
              'o_proj',
              'gate_proj',
              'up_proj',
              'down_proj',
              'c_attn',
              'c_proj',
              'c_fc',
              'q',
              'k',
              'v',
              'o',
              'wi_0',
              'wi_1',
              'wo',
            ],
          },
        },
      ],
    },
    rslora: { type: 'boolean', default: false, description: 'Rank-stabilised LoRA: scale = alpha / sqrt(r).' },
  },
};

export const adapterSchema: JsonSchema = {
  type: 'object',
  description: 'A LoRA adapter trained on `data` over `base`; causal-LM for text datasets, answer-only loss for labeled ones.',
  additionalProperties: false,
  required: ['base'],
  oneOf: [{ required: ['data'] }, { required: ['import'] }],
  properties: {
    description: descriptionProperty,
    base: baseModelProperty,
    data: { type: 'string', minLength: 1, description: 'Name of the training dataset in `datasets` (or give `import`).' },
    import: {
      type: 'object',
      description:
        'Import a PEFT LoRA adapter instead of training one: from a directory, or from the hub (`hub` + `revision`, the commit sha joins the key; cached, offline after the first time). Validated against `base`.',
      additionalProperties: false,
      oneOf: [{ required: ['path'] }, { required: ['hub'] }],
      properties: {
        path: {
          type: 'string',
          minLength: 1,
          description: 'PEFT adapter directory (adapter_config.json + adapter_model.safetensors), project-relative or absolute.',
        },
        hub: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$', description: 'Hub repo id of a PEFT adapter, owner/name.' },
        revision: { type: 'string', minLength: 1, default: 'main', description: 'Branch, tag or commit sha of `hub`.' },
      },
    },
    on: {
      type: 'array',
      items: { type: 'string', minLength: 1 },
      uniqueItems: true,
      default: [],
      description: 'Adapters (names in `adapters`) stacked frozen beneath this one while it trains.',
    },
    lora: loraSchema,
    quant: { enum: ['nf4', 'none'], default: 'nf4', description: 'Frozen base weights in NF4 (QLoRA) or in their stored precision.' },
    compute: { enum: ['auto', 'bf16', 'fp32'], default: 'auto', description: 'Matmul precision; auto picks bf16 where the CPU supports it.' },
    lr: { type: 'number', exclusiveMinimum: 0, default: 2e-4, description: 'Peak learning rate (AdamW).' },
    warmup: { type: 'integer', minimum: 0, default: 10, description: 'Linear warmup steps.' },
    schedule: { enum: ['cosine', 'linear', 'constant'], default: 'cosine', description: 'Learning-rate decay after warmup.' },
    epochs: { type: 'number', exclusiveMinimum: 0, default: 1, description: 'Passes over the training set (ignored when maxSteps is set).' },
    maxSteps: { type: 'integer', minimum: 0, default: 0, description: 'Optimizer steps to run; 0 means use epochs.' },
    batchSize: { type: 'integer', minimum: 1, default: 4, description: 'Sequences per micro-batch.' },
    gradAccum: { type: 'integer', minimum: 1, default: 1, description: 'Micro-batches accumulated per optimizer step.' },
    maxGradNorm: { type: 'number', minimum: 0, default: 1, description: 'Global gradient-norm clip; 0 disables clipping.' },
    weightDecay: { type: 'number', minimum: 0, default: 0, description: 'AdamW decoupled weight decay.' },
    seqLen: { type: 'integer', minimum: 8, default: 512, description: 'Maximum sequence length in tokens (packing length for text).' },
    seed: { type: 'integer', minimum: 0, default: 0, description: 'Seed for LoRA init, dropout and data order.' },
    evalEvery: { type: 'integer', minimum: 0, default: 0, description: 'Validation loss every N steps (0: only at the end).' },
    checkpointEvery: { type: 'integer', minimum: 0, default: 50, description: 'Resumable checkpoint every N steps (0: none).' },
    gradientCheckpointing: {
      type: 'boolean',
      default: false,
      description: 'Recompute layer activations in the backward instead of keeping them all (less memory, some more time).',
    },
    activationBudgetMB: {
      type: 'number',
      minimum: 0,
      default: 0,
      description: 'With gradientCheckpointing: the first layers keep their activations while they fit this many MB; 0 recomputes every layer but the last.',
    },
  },
};
