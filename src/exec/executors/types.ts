// The executor interface: how a stage that must be built gets its outputs into a directory the build then commits.
// `local` runs the stage kind in this process; `slurm` runs it as a batch job (`peftmake run-stage`) on the cluster.
import type { RunResult, UpstreamArtifact } from '../../stage.ts';
import type { PlannedStage } from '../../plan/plan.ts';
import type { StageEnv } from '../run-stage.ts';
import type { ExecutorKind } from './choose.ts';

export interface StageTask {
  p: PlannedStage;
  upstream: Record<string, UpstreamArtifact>;
  previous?: UpstreamArtifact;
  env: StageEnv;
  /** Aborts the run: Ctrl-C, or (for cluster jobs) a failure elsewhere in a build without --keep-going. */
  signal: AbortSignal;
}

/** The Slurm job that produced an artifact; kept in the manifest and the stage's version history. */
export interface JobRecord {
  executor: 'slurm';
  id: string; // the job id of the attempt that finished
  attempts: string[]; // every job id submitted for this key, in order (resubmissions after preemption)
  node?: string;
}

export interface StageRunOutput {
  /** Holds the stage's outputs (the kind wrote them there); the build checks and commits it. */
  outDir: string;
  result: RunResult;
  /** Where the work ran (the compute node for a Slurm job). */
  host: string;
  job?: JobRecord;
  /** Removes the executor's scratch (job files) once the build has committed or dropped outDir. */
  release(): void;
}

export interface Executor {
  readonly kind: ExecutorKind;
  /** Runs the stage; on failure nothing is left in the store but the resume area (checkpoints). */
  run(task: StageTask): Promise<StageRunOutput>;
}
