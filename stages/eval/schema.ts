// JSON Schema fragment for one entry of `evals`: metrics of compositions (and their parts) on held-out datasets, with an optional gate.
import type { JsonSchema } from '../../src/stage.ts';
import { descriptionProperty } from '../shared/schema-fields.ts';

export const evalSchema: JsonSchema = {
  type: 'object',
  description: 'Perplexity (and exact match / token F1 on qa sets) of the base, each adapter and each composition, written to metrics.json.',
  additionalProperties: false,
  required: ['compositions', 'datasets'],
  properties: {
    description: descriptionProperty,
    compositions: {
      type: 'array',
      minItems: 1,
      uniqueItems: true,
      items: { type: 'string', minLength: 1 },
      description: 'Composition names in `compositions`.',
    },
    datasets: {
      type: 'array',
      minItems: 1,
      uniqueItems: true,
      items: { type: 'string', minLength: 1 },
      description: 'Dataset names in `datasets`; their valid split is scored.',
    },
    metrics: {
      type: 'array',
      uniqueItems: true,
      items: { enum: ['perplexity', 'exact_match', 'f1'] },
      default: ['perplexity', 'exact_match', 'f1'],
      description: 'Metrics to compute; exact_match and f1 apply to qa datasets only.',
    },
    maxExamples: { type: 'integer', minimum: 0, default: 200, description: 'Cap on examples scored per dataset (0: all).' },
    maxNewTokens: { type: 'integer', minimum: 1, default: 32, description: 'Generation length for exact match / F1.' },
    quant: {
      enum: ['none', 'nf4'],
      default: 'none',
      description: 'Base weights while scoring: their stored precision (the reference), or NF4 as QLoRA adapters were trained on.',
    },
    compute: { enum: ['fp32', 'bf16', 'auto'], default: 'fp32', description: 'Matmul precision while scoring; fp32 is the reference.' },
    gate: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Keeps the previous version of a composition current when the new one regresses.',
      properties: {
        maxPerplexityIncrease: {
          type: 'number',
          minimum: 0,
          default: 0,
          description: 'Largest allowed relative rise in valid perplexity, e.g. 0.02 (0: no gate).',
        },
        minExactMatch: { type: 'number', minimum: 0, maximum: 1, default: 0, description: 'Lowest allowed exact match on qa sets (0: no gate).' },
      },
    },
  },
};
