// Planning half of the executor choice (pure, no IO): which executor runs each stage, and with which Slurm options.
// A stage's own `executor` overrides the top-level one field by field; `build --executor` overrides the kind of both.
// Light stages without an `executor.kind` of their own always run locally.
import type { Pipeline, StageEntry } from '../../config/types.ts';

export type ExecutorKind = 'local' | 'slurm';

/** The Slurm options of pipeline.json's `executor`, as Slurm names them. */
export interface SlurmOptions {
  partition?: string;
  time?: string;
  cpusPerTask?: number;
  mem?: string;
  gres?: string;
  account?: string;
  qos?: string;
  constraint?: string;
  nodes?: number;
  ntasksPerNode?: number;
  sbatchArgs?: string[];
  resubmit?: number;
  pollSeconds?: number;
}

export interface ExecutorConfig extends SlurmOptions {
  kind?: ExecutorKind;
}

export interface ExecutorChoice {
  kind: ExecutorKind;
  slurm: SlurmOptions;
}

function executorField(v: unknown): ExecutorConfig {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as ExecutorConfig) : {};
}

export function chooseExecutor(entry: StageEntry, pipelineConfig: Readonly<Record<string, unknown>>, cli?: ExecutorKind): ExecutorChoice {
  const top = executorField(pipelineConfig.executor);
  const own = executorField(entry.config.executor);
  const { kind: topKind, ...topOpts } = top;
  const { kind: ownKind, ...ownOpts } = own;
  const slurm: SlurmOptions = { ...topOpts, ...ownOpts };
  if (!entry.heavy && !ownKind) return { kind: 'local', slurm };
  return { kind: cli ?? ownKind ?? topKind ?? 'local', slurm };
}

/** The choice for every stage of the pipeline, by name. */
export function chooseExecutors(pipeline: Pipeline, cli?: ExecutorKind): Map<string, ExecutorChoice> {
  return new Map([...pipeline.stages.values()].map((e) => [e.name, chooseExecutor(e, pipeline.config, cli)]));
}
