// The `model` stage kind (models.<name>): a base model from a local directory (hashed as an external input), the hub
// (revision resolved to a commit sha that joins the key; offline from the HF cache) or a seeded random init.
import type { DeclaredDeps, StageKind } from '../../src/stage.ts';
import { modelSchema } from './schema.ts';
import { resolveModel, runModelStage, type ModelStageConfig } from './model-stage.ts';

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
    return resolveModel(ctx.config, ctx.signal);
  },
  run: runModelStage,
};

export default model;
