// The `adapter` stage kind (adapters.<name>): validated by its schema; training is not implemented yet.
import type { DeclaredDeps, StageKind, StageReference } from '../../src/stage.ts';
import { notImplemented } from '../not-implemented.ts';
import { adapterSchema } from './schema.ts';

export interface AdapterConfig {
  base: string;
  data: string;
  on: string[];
  [field: string]: unknown;
}

const adapter: StageKind<AdapterConfig> = {
  section: 'adapters',
  kind: 'adapter',
  implVersion: '0',
  heavy: true,
  schema: adapterSchema,
  references(_name, c): StageReference[] {
    return [
      { pointer: '/base', target: `models.${c.base}` },
      { pointer: '/data', target: `datasets.${c.data}` },
      ...c.on.map((a, i) => ({ pointer: `/on/${i}`, target: `adapters.${a}` })),
    ];
  },
  deps(name, c): DeclaredDeps {
    return { upstream: adapter.references!(name, c).map((r) => r.target), files: [] };
  },
  run: notImplemented,
};

export default adapter;
