// JSON Schema fragment for one entry of `compositions`: a base plus weighted adapters, stacked at runtime or merged.
import type { JsonSchema } from '../../src/stage.ts';
import { baseModelProperty, descriptionProperty } from '../shared/schema-fields.ts';

export const compositionSchema: JsonSchema = {
  type: 'object',
  description: 'The base plus adapters with weights: `stack` applies them side by side at runtime; the other methods merge into one adapter.',
  additionalProperties: false,
  required: ['base', 'adapters'],
  properties: {
    description: descriptionProperty,
    base: baseModelProperty,
    adapters: {
      type: 'array',
      minItems: 1,
      description: 'Adapters (names in `adapters`) with their weights, in application order.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name'],
        properties: {
          name: { type: 'string', minLength: 1, description: 'Adapter name in `adapters`.' },
          weight: { type: 'number', default: 1, description: 'Multiplier on the adapter scale.' },
        },
      },
    },
    method: {
      enum: ['stack', 'cat', 'linear', 'svd', 'ties', 'dare_linear'],
      default: 'stack',
      description: 'stack (runtime, switchable), cat (exact merge, rank = sum), linear, svd (to `rank`), ties / dare_linear (with `density`, `seed`), as PEFT.',
    },
    density: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 0.5, description: 'Fraction of weights kept by ties / dare_linear.' },
    rank: { type: 'integer', minimum: 0, default: 0, description: 'Target rank for svd (0: the largest input rank).' },
    seed: { type: 'integer', minimum: 0, default: 0, description: 'Seed of dare_linear random pruning.' },
  },
};
