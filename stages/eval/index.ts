// The `eval` stage kind (evals.<name>): metrics of the base, each adapter and each composition on held-out sets, a
// table and metrics.json; a gate that reports compositions regressing against the previous eval.
// A light descriptor: the evaluation implementation is imported on first run.
import type { DeclaredDeps, StageKind, StageReference } from '../../src/stage.ts';
import type { EvalStageConfig } from './eval-stage.ts';
import { evalSchema } from './schema.ts';

export interface EvalConfig extends EvalStageConfig {
  [field: string]: unknown;
}

const evalKind: StageKind<EvalConfig> = {
  section: 'evals',
  kind: 'eval',
  implVersion: '1',
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
  run: (ctx) => import('./eval-stage.ts').then((m) => m.runEvalStage(ctx)),
};

export default evalKind;
