// The `model` stage kind (models.<name>): validated by its schema; building is not implemented yet.
import type { DeclaredDeps, StageKind } from '../../src/stage.ts';
import { notImplemented } from '../not-implemented.ts';
import { modelSchema } from './schema.ts';

export interface ModelConfig {
  path?: string;
  hub?: string;
  revision: string;
  init?: Record<string, unknown>;
}

const model: StageKind<ModelConfig> = {
  section: 'models',
  kind: 'model',
  implVersion: '0',
  schema: modelSchema,
  deps(_name, config): DeclaredDeps {
    // A local model directory may live outside the project (a shared cache): hash it as an external input.
    return { upstream: [], files: [], externalFiles: config.path ? [config.path] : [] };
  },
  run: notImplemented,
};

export default model;
