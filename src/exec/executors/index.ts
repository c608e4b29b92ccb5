// Builds the executors of one build from the planned choice of each stage: the local executor, and one Slurm executor
// per distinct set of Slurm options.
import type { Pipeline } from '../../config/types.ts';
import { canonicalJson } from '../../hash/canonical-json.ts';
import { chooseExecutors, type ExecutorKind } from './choose.ts';
import { localExecutor } from './local.ts';
import { SlurmExecutor } from './slurm.ts';
import type { Executor } from './types.ts';

export function executorsFor(pipeline: Pipeline, cli?: ExecutorKind): (stage: string) => Executor {
  const choices = chooseExecutors(pipeline, cli);
  const slurm = new Map<string, SlurmExecutor>();
  return (stage) => {
    const c = choices.get(stage);
    if (!c || c.kind === 'local') return localExecutor;
    const id = canonicalJson(c.slurm);
    let e = slurm.get(id);
    if (!e) slurm.set(id, (e = new SlurmExecutor(c.slurm)));
    return e;
  };
}
