// The `composition` stage kind (compositions.<name>): the base plus weighted adapters, stacked at runtime (switchable)
// or merged into one adapter. It names adapter stages, so a rolled-back or retrained adapter rebuilds only this.
// A light descriptor: the compose / merge implementation is imported on first run.
import { dirname } from 'node:path';
import type { DeclaredDeps, StageKind, StageReference } from '../../src/stage.ts';
import type { ComposeConfig } from './composition-stage.ts';
import { runtimeAdapters } from '../shared/composition-file.ts';
import { compositionPrompt } from '../shared/inference-prompt.ts';
import { compositionSchema } from './schema.ts';

export interface CompositionConfig extends ComposeConfig {
  adapters: { name: string; weight: number }[];
  method: ComposeConfig['method'] & string;
  [field: string]: unknown;
}

const composition: StageKind<CompositionConfig> = {
  section: 'compositions',
  kind: 'composition',
  implVersion: '1',
  schema: compositionSchema,
  references(_name, c): StageReference[] {
    return [{ pointer: '/base', target: `models.${c.base}` }, ...c.adapters.map((a, i) => ({ pointer: `/adapters/${i}/name`, target: `adapters.${a.name}` }))];
  },
  deps(name, c): DeclaredDeps {
    return { upstream: [...new Set(composition.references!(name, c).map((r) => r.target))], files: [] };
  },
  run: (ctx) => import('./composition-stage.ts').then((m) => m.runCompositionStage(ctx)),
  inferenceStack(artifact, opts) {
    const { file, adapters } = runtimeAdapters(artifact.dir, { disable: [...(opts.disable ?? [])], objectsDir: dirname(artifact.dir) });
    const prompt = compositionPrompt(artifact.dir, { disable: opts.disable, objectsDir: dirname(artifact.dir) });
    return { modelDir: file.base.modelDir, adapters, prompt };
  },
};

export default composition;
