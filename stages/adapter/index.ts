// The `adapter` stage kind (adapters.<name>): trains a LoRA / QLoRA adapter on a dataset over a base model, on top
// of frozen `on` adapters; resumable; `diff` adds per-module weight lines between two versions.
import type { DeclaredDeps, StageKind, StageReference } from '../../src/stage.ts';
import { adapterSchema } from './schema.ts';
import { runTrainStage, type TrainStageConfig } from './train-stage.ts';
import { adapterDiff } from './weight-diff.ts';

export interface AdapterConfig extends TrainStageConfig {
  on: string[];
  [field: string]: unknown;
}

const adapter: StageKind<AdapterConfig> = {
  section: 'adapters',
  kind: 'adapter',
  implVersion: '1',
  heavy: true,
  schema: adapterSchema,
  references(_name, c): StageReference[] {
    return [
      { pointer: '/base', target: `models.${c.base}` },
      { pointer: '/data', target: `datasets.${c.data}` },
      ...(c.on ?? []).map((a, i) => ({ pointer: `/on/${i}`, target: `adapters.${a}` })),
    ];
  },
  deps(name, c): DeclaredDeps {
    return { upstream: adapter.references!(name, c).map((r) => r.target), files: [] };
  },
  run: runTrainStage,
  diff: adapterDiff,
};

export default adapter;
