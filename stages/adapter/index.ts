// The `adapter` stage kind (adapters.<name>): trains a LoRA / QLoRA adapter on a dataset over a base model, on top
// of frozen `on` adapters; resumable; `diff` adds per-module weight lines between two versions.
// A light descriptor: training and weight diffs are imported on first use, so planning and no-op builds stay fast.
import type { DeclaredDeps, StageKind, StageReference } from '../../src/stage.ts';
import { adapterSchema } from './schema.ts';
import type { TrainStageConfig } from './adapter-stage.ts';

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
  run: (ctx) => import('./adapter-stage.ts').then((m) => m.runAdapterStage(ctx)),
  diff: (a, b) => import('./weight-diff.ts').then((m) => m.adapterDiff(a, b)),
};

export default adapter;
