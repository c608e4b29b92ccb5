// What every export's model card says about the base model and versions, read from the frozen pipeline.
import { ENGINE_VERSION } from '../../src/engine/version.ts';
import type { CardInput } from './model-card.ts';
import { peftmakeVersion } from './peftmake-version.ts';

export function cardBase(pipeline: Readonly<Record<string, unknown>>, baseName: string): Pick<CardInput, 'baseModel' | 'peftmakeVersion' | 'engineVersion'> {
  const m = ((pipeline.models ?? {}) as Record<string, Record<string, unknown>>)[baseName] ?? {};
  const baseModel = {
    hub: typeof m.hub === 'string' ? m.hub : undefined,
    revision: typeof m.revision === 'string' ? m.revision : undefined,
    path: typeof m.path === 'string' ? m.path : m.init ? `models.${baseName} (init, random)` : undefined,
  };
  return { baseModel, peftmakeVersion: peftmakeVersion(), engineVersion: ENGINE_VERSION };
}
