// The `model` stage kind (models.<name>): a base model from a local directory (hashed as an external input), the hub
// (revision resolved to a commit sha that joins the key; offline from the HF cache) or a seeded random init.
// A light descriptor: the hub client and the engine are imported only when a stage needs them.
import { PeftError } from '../../src/errors.ts';
import type { DeclaredDeps, StageKind } from '../../src/stage.ts';
import { modelDirOf } from '../shared/model-dir.ts';
import { modelSchema } from './schema.ts';
import type { ModelStageConfig } from './model-stage.ts';

export interface ModelConfig extends ModelStageConfig {
  revision: string;
}

const model: StageKind<ModelConfig> = {
  section: 'models',
  kind: 'model',
  implVersion: '1',
  schema: modelSchema,
  deps(_name, config): DeclaredDeps {
    // A local model directory may live outside the project (a shared cache): hash it as an external input.
    return { upstream: [], files: [], externalFiles: config.path ? [config.path] : [] };
  },
  async resolve(ctx) {
    if (!ctx.config.hub) return {}; // only a hub revision has an external fact to resolve (as resolveModel says)
    const { resolveModel } = await import('./model-stage.ts');
    return resolveModel(ctx.config, ctx.signal);
  },
  run: (ctx) => import('./model-stage.ts').then((m) => m.runModelStage(ctx)),
  // served on its own (serve): the base model with no adapters
  inferenceStack(artifact, opts) {
    if (opts.disable?.length)
      throw new PeftError('E_USAGE', `model ${artifact.name.replace(/^models\./, '')} is a base model: it has no adapters to switch off`);
    return { modelDir: modelDirOf(artifact.dir), adapters: [] };
  },
};

export default model;
