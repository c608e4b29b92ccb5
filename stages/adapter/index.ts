// The `adapter` stage kind (adapters.<name>): trains a LoRA / QLoRA adapter on a dataset over a base model, on top
// of frozen `on` adapters; resumable; `diff` adds per-module weight lines between two versions.
// A light descriptor: training and weight diffs are imported on first use, so planning and no-op builds stay fast.
import { dirname, join } from 'node:path';
import { PeftError } from '../../src/errors.ts';
import type { DeclaredDeps, StageKind, StageReference } from '../../src/stage.ts';
import { readAdapterMeta } from '../shared/adapter-artifact.ts';
import { inferencePrompt } from '../shared/inference-prompt.ts';
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
  // served on its own (serve): the base, the frozen adapters it was trained on (in order), then the adapter itself
  inferenceStack(artifact, opts) {
    const meta = readAdapterMeta(artifact.dir);
    const name = artifact.name.replace(/^adapters\./, '');
    const all = [...meta.stack.map((e) => ({ name: e.name, dir: join(dirname(artifact.dir), e.key), weight: 1 })), { name, dir: artifact.dir, weight: 1 }];
    const disable = opts.disable ?? [];
    for (const d of disable)
      if (!all.some((a) => a.name === d))
        throw new PeftError('E_USAGE', `adapter ${name} has no adapter "${d}" in its stack (it has ${all.map((a) => a.name).join(', ')})`);
    const adapters = all.filter((a) => !disable.includes(a.name));
    // prompts in the format the enabled adapters were trained on (the same rule as a composition's)
    return { modelDir: meta.base.modelDir, adapters, prompt: inferencePrompt(adapters, meta.base.modelDir) };
  },
};

export default adapter;
