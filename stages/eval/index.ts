// The `eval` stage kind (evals.<name>): validated by its schema; evaluation is not implemented yet.
import type { DeclaredDeps, StageKind, StageReference } from '../../src/stage.ts';
import { notImplemented } from '../not-implemented.ts';
import { evalSchema } from './schema.ts';

export interface EvalConfig {
  compositions: string[];
  datasets: string[];
  [field: string]: unknown;
}

const evalKind: StageKind<EvalConfig> = {
  section: 'evals',
  kind: 'eval',
  implVersion: '0',
  schema: evalSchema,
  references(_name, c): StageReference[] {
    return [
      ...c.compositions.map((n, i) => ({ pointer: `/compositions/${i}`, target: `compositions.${n}` })),
      ...c.datasets.map((n, i) => ({ pointer: `/datasets/${i}`, target: `datasets.${n}` })),
    ];
  },
  deps(name, c): DeclaredDeps {
    return { upstream: evalKind.references!(name, c).map((r) => r.target), files: [] };
  },
  run: notImplemented,
};

export default evalKind;
