// Builds the whole pipeline.json JSON Schema (2020-12) from the stage kinds' per-entry fragments.
import type { JsonSchema, StageKind } from '../stage.ts';
import { executorSchema, stageExecutorProperty, topExecutorProperty } from './executor-schema.ts';

export const STAGE_NAME_PATTERN = '^[A-Za-z0-9_][A-Za-z0-9_-]*$';

const SECTION_DESCRIPTIONS: Record<string, string> = {
  models: 'Base models, by name: a local directory, a hub id + revision, or a random init.',
  datasets: 'Datasets, by name: sources, format, cleaning, token limits and splits, built into train/valid JSONL.',
  adapters: 'LoRA / QLoRA adapters, by name, each trained on a dataset over a base model.',
  compositions: 'Compositions, by name: a base plus weighted adapters, stacked at runtime or merged.',
  evals: 'Evaluations, by name: metrics of compositions on held-out datasets.',
  exports: 'Exports, by name: built adapters copied to project paths in PEFT layout.',
  stages: 'Command stages, by name: shell commands with declared deps, outs and params (make / DVC style).',
};

export function buildPipelineSchema(kinds: readonly StageKind[]): JsonSchema {
  const properties: Record<string, JsonSchema> = {
    $schema: { type: 'string', description: 'Path or URL of this JSON Schema, for editors.', default: './schema/pipeline.schema.json' },
    description: { type: 'string', description: 'Free text for humans; not part of any stage key.', default: '' },
    executor: topExecutorProperty,
  };
  for (const k of kinds) {
    properties[k.section] = {
      type: 'object',
      description: SECTION_DESCRIPTIONS[k.section] ?? `${k.kind} stages, by name.`,
      default: {},
      propertyNames: { pattern: STAGE_NAME_PATTERN },
      additionalProperties: { $ref: `#/$defs/${k.kind}` },
    };
  }
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://peftmake.dev/schema/pipeline.schema.json',
    title: 'peftmake pipeline',
    description: 'A peftmake pipeline: every stage is `<section>.<name>`; peftmake builds only what changed.',
    type: 'object',
    additionalProperties: false,
    properties,
    $defs: { ...Object.fromEntries(kinds.map((k) => [k.kind, canBeHeavy(k) ? withExecutor(k.schema) : k.schema])), executor: executorSchema },
  };
}

/** Kinds whose entries can be heavy (training, heavy command stages) take a per-stage `executor`. */
function canBeHeavy(k: StageKind): boolean {
  return Boolean(k.heavy || k.isHeavy);
}

function withExecutor(schema: JsonSchema): JsonSchema {
  const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
  return { ...schema, properties: { ...props, executor: stageExecutorProperty } };
}
