// The `adapter` stage kind (adapters.<name>): trains a LoRA / QLoRA adapter on a dataset over a base model, on top
// of frozen `on` adapters; resumable; `diff` adds per-module weight lines between two versions.
// A light descriptor: training and weight diffs are imported on first use, so planning and no-op builds stay fast.
import { dirname, join } from 'node:path';
import { PeftError } from '../../src/errors.ts';
import type { DeclaredDeps, StageKind, StageReference } from '../../src/stage.ts';
import { readAdapterMeta } from '../shared/adapter-artifact.ts';
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
  // served on its own (serve): the base, the frozen adapters it was trained on (in order), then the adapter itself
  inferenceStack(artifact, opts) {
    const meta = readAdapterMeta(artifact.dir);
    const name = artifact.name.replace(/^adapters\./, '');
    const all = [...meta.stack.map((e) => ({ name: e.name, dir: join(dirname(artifact.dir), e.key), weight: 1 })), { name, dir: artifact.dir, weight: 1 }];
    const disable = opts.disable ?? [];
    for (const d of disable)
      if (!all.some((a) => a.name === d)) throw new PeftError('E_USAGE', `adapter ${name} has no adapter "${d}" in its stack (it has ${all.map((a) => a.name).join(', ')})`);
    return { modelDir: meta.base.modelDir, adapters: all.filter((a) => !disable.includes(a.name)) };
  },
};

export default adapter;
