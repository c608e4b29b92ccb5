// The `composition` stage kind (compositions.<name>): validated by its schema; building is not implemented yet.
import type { DeclaredDeps, StageKind, StageReference } from '../../src/stage.ts';
import { notImplemented } from '../not-implemented.ts';
import { compositionSchema } from './schema.ts';

export interface CompositionConfig {
  base: string;
  adapters: { name: string; weight: number }[];
  method: string;
  [field: string]: unknown;
}

const composition: StageKind<CompositionConfig> = {
  section: 'compositions',
  kind: 'composition',
  implVersion: '0',
  schema: compositionSchema,
  references(_name, c): StageReference[] {
    return [
      { pointer: '/base', target: `models.${c.base}` },
      ...c.adapters.map((a, i) => ({ pointer: `/adapters/${i}/name`, target: `adapters.${a.name}` })),
    ];
  },
  deps(name, c): DeclaredDeps {
    return { upstream: [...new Set(composition.references!(name, c).map((r) => r.target))], files: [] };
  },
  run: notImplemented,
};

export default composition;
