// The `adapter` stage kind (adapters.<name>): trains a LoRA / QLoRA adapter on a dataset over a base model, on top
// of frozen `on` adapters; resumable; `diff` adds per-module weight lines between two versions.
// A light descriptor: training and weight diffs are imported on first use, so planning and no-op builds stay fast.
import type { DeclaredDeps, StageKind, StageReference } from '../../src/stage.ts';
import { adapterSchema } from './schema.ts';
import type { TrainStageConfig } from './adapter-stage.ts';
import type { ImportSpec } from './import-stage.ts';

export interface AdapterConfig extends Omit<TrainStageConfig, 'data'> {
  data?: string;
  import?: ImportSpec;
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
      ...(c.data ? [{ pointer: '/data', target: `datasets.${c.data}` }] : []),
      ...(c.on ?? []).map((a, i) => ({ pointer: `/on/${i}`, target: `adapters.${a}` })),
    ];
  },
  isHeavy(c): boolean {
    return !c.import;
  },
  deps(name, c): DeclaredDeps {
    // An imported adapter directory is hashed like a local base model (it may live outside the project).
    return { upstream: adapter.references!(name, c).map((r) => r.target), files: [], externalFiles: c.import?.path ? [c.import.path] : [] };
  },
  async resolve(ctx) {
    if (!ctx.config.import?.hub) return {};
    const { resolveImport } = await import('./import-stage.ts');
    return resolveImport(ctx.config.import, ctx.signal);
  },
  run: (ctx) =>
    ctx.config.import
      ? import('./import-stage.ts').then((m) => m.runImportStage(ctx as unknown as Parameters<typeof m.runImportStage>[0]))
      : import('./adapter-stage.ts').then((m) => m.runAdapterStage(ctx as unknown as Parameters<typeof m.runAdapterStage>[0])),
  diff: (a, b) => import('./weight-diff.ts').then((m) => m.adapterDiff(a, b)),
};

export default adapter;
