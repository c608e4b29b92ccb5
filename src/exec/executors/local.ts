// The local executor: runs a stage kind in this process, into a temp dir in the store (the behaviour of every build
// before executors existed). `runKind` is also what `peftmake run-stage` runs on a compute node.
import { mkdirSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Pipeline } from '../../config/types.ts';
import type { RunResult, StageProgress, UpstreamArtifact } from '../../stage.ts';
import type { PlannedStage } from '../../plan/plan.ts';
import { dropEmptyResume, makeTempDir } from '../../store/objects.ts';
import { clearOutputs } from '../workspace-outputs.ts';
import type { Executor, StageRunOutput, StageTask } from './types.ts';

export interface KindRun {
  pipeline: Pipeline;
  outDir: string;
  resumeDir: string;
  upstream: Record<string, UpstreamArtifact>;
  previous?: UpstreamArtifact;
  signal: AbortSignal;
  /** A cluster job: the signal is SIGTERM before a kill (see RunContext.checkpointOnAbort). */
  checkpointOnAbort?: boolean;
  json: boolean;
  progress(p: StageProgress): void;
  log(line: string): void;
}

/** Clears the stage's workspace outputs and runs its kind into `outDir` (resume state in `resumeDir`). */
export async function runKind(p: PlannedStage, r: KindRun): Promise<RunResult> {
  mkdirSync(r.resumeDir, { recursive: true });
  clearOutputs(p.entry, r.pipeline.projectDir);
  return p.entry.kind.run({
    name: p.name,
    kind: p.kind,
    config: p.entry.config,
    pipeline: r.pipeline.config,
    projectDir: r.pipeline.projectDir,
    outDir: r.outDir,
    upstream: r.upstream,
    resolved: p.material.resolved,
    inputs: p.inputs,
    previous: r.previous,
    resumeDir: r.resumeDir,
    key: p.key,
    signal: r.signal,
    ...(r.checkpointOnAbort ? { checkpointOnAbort: true } : {}),
    json: r.json,
    progress: r.progress,
    log: r.log,
  });
}

export const localExecutor: Executor = {
  kind: 'local',
  async run({ p, upstream, previous, env, signal }: StageTask): Promise<StageRunOutput> {
    const { layout, pipeline, reporter } = env;
    const outDir = makeTempDir(layout, p.name);
    try {
      const result = await runKind(p, {
        pipeline,
        outDir,
        resumeDir: layout.resume(p.name, p.key),
        upstream,
        previous,
        signal,
        json: env.json,
        progress: (pr) => reporter.progress(p.name, pr),
        log: (line) => reporter.log(p.name, line),
      });
      return { outDir, result, host: hostname(), release() {} };
    } catch (e) {
      rmSync(outDir, { recursive: true, force: true });
      dropEmptyResume(layout, p.name, p.key);
      throw e;
    }
  },
};
