// The build and status entry points: load the pipeline, take the lock, plan, execute, save the hash cache.
import { dirname, resolve } from 'node:path';
import { PeftError } from '../errors.ts';
import { loadPipeline } from '../config/load.ts';
import type { Pipeline } from '../config/types.ts';
import type { Toolchain } from '../stage.ts';
import { HashCache } from '../hash/hash-cache.ts';
import { StoreLayout } from '../store/layout.ts';
import { acquireLock } from '../store/lock.ts';
import { cleanTemp } from '../store/objects.ts';
import { planBuild, type PlannedStage } from '../plan/plan.ts';
import { executePlan } from './executor.ts';
import { makeOutcome, silentReporter, type BuildReport, type Reporter, type StageOutcome } from './reporter.ts';
import type { ExecutorKind } from './executors/choose.ts';
import { executorsFor } from './executors/index.ts';
import { listJobs } from './executors/job-files.ts';
import { checkSnapshot, dropSnapshot, hasSnapshot, saveSnapshot, snapshotId, snapshotsEnabled, type SnapshotCheck } from './noop-snapshot.ts';

export interface BuildOptions {
  /** The stage kinds and engine version, handed in by the entry point (the CLI's src/cli/toolchain.ts). */
  toolchain: Toolchain;
  file?: string;
  cwd?: string;
  pipeline?: Pipeline; // already loaded (watch mode)
  targets?: readonly string[];
  jobs?: number;
  keepGoing?: boolean;
  dryRun?: boolean;
  json?: boolean;
  waitSeconds?: number;
  /** Re-hash every byte of every committed object the plan uses (default: only files whose stat changed). */
  verify?: boolean;
  /** `build --executor`: where heavy stages run, over pipeline.json's `executor` fields. */
  executor?: ExecutorKind;
  signal?: AbortSignal;
  reporter?: Reporter;
  /** Runs under the build lock before planning (rollback re-points a ref here). */
  beforePlan?: (pipeline: Pipeline) => void;
}

export function plannedOutcome(p: PlannedStage): StageOutcome {
  return makeOutcome({
    name: p.name,
    kind: p.kind,
    action: p.action,
    version: p.action === 'failed' || p.action === 'skipped' ? null : p.version,
    key: p.key,
    reasons: p.reasons,
    seconds: 0,
    ...(p.pinned ? { pinned: true, stale: p.stale } : {}),
    ...(p.error ? { error: p.error } : {}),
  });
}

/** What a build would do, changing nothing (status, --dry-run). */
export async function statusOf(opts: BuildOptions): Promise<BuildReport> {
  const pipeline = opts.pipeline ?? loadPipeline(opts.file ?? 'pipeline.json', { cwd: opts.cwd, kinds: opts.toolchain.kinds });
  const layout = new StoreLayout(pipeline.projectDir);
  const cache = new HashCache(layout.hashCache);
  const plan = await planBuild(pipeline, layout, cache, {
    engineVersion: opts.toolchain.engineVersion,
    targets: opts.targets,
    signal: opts.signal,
    verify: opts.verify,
  });
  return { ok: plan.every((p) => p.action !== 'failed' && p.action !== 'skipped'), stages: plan.map(plannedOutcome) };
}

export async function build(opts: BuildOptions): Promise<BuildReport> {
  if (opts.dryRun) return statusOf(opts);
  const startedMs = Date.now();
  // The no-op snapshot (noop-snapshot.ts) serves a build of the pipeline file as the CLI runs it; not watch mode's
  // preloaded pipeline, --verify (which re-reads every byte) or rollback's re-pointed ref.
  const file = resolve(opts.cwd ?? process.cwd(), opts.file ?? 'pipeline.json');
  const snapshots = !opts.pipeline && !opts.verify && !opts.beforePlan && snapshotsEnabled();
  const snapLayout = snapshots ? new StoreLayout(dirname(file)) : undefined;
  // Checked only where a snapshot exists: a build outside a project still fails on pipeline.json before the lock.
  const checkFirst = snapLayout !== undefined && hasSnapshot(snapLayout);
  let pipeline: Pipeline | undefined = checkFirst ? undefined : (opts.pipeline ?? loadPipeline(file, { kinds: opts.toolchain.kinds }));
  const layout = snapLayout ?? new StoreLayout(pipeline!.projectDir);
  if (!snapshots) dropSnapshot(layout); // this build may change what a snapshot recorded (its digests would tell; this is cheaper)
  const signal = opts.signal ?? new AbortController().signal;
  const lock = await acquireLock(layout, { command: 'build', waitSeconds: opts.waitSeconds, signal }).catch((e: unknown) => {
    throw withJobs(e, layout);
  });
  const stale = lock.clearedStale;
  if (stale)
    (opts.reporter ?? silentReporter).log(
      'lock',
      `cleared a stale build lock of pid ${stale.pid} (${stale.reason}; written ${stale.startedAt} by \`${stale.command}\`)`,
    );
  try {
    cleanTemp(layout);
    const id = snapshots ? snapshotId(opts.toolchain, file, opts.targets ?? []) : '';
    let check: SnapshotCheck | undefined;
    if (checkFirst) {
      check = await checkSnapshot(layout, id, opts.toolchain.engineVersion);
      if (check.report) {
        for (const s of check.report.stages) (opts.reporter ?? silentReporter).stageEnd(s);
        return check.report;
      }
      pipeline = loadPipeline(file, { kinds: opts.toolchain.kinds });
    }
    const pipe = pipeline!;
    opts.beforePlan?.(pipe);
    const cache = new HashCache(layout.hashCache);
    try {
      const plan = await planBuild(pipe, layout, cache, {
        engineVersion: opts.toolchain.engineVersion,
        targets: opts.targets,
        signal,
        verify: opts.verify,
        reuse: check?.reuse,
      });
      const report = await executePlan(
        plan,
        {
          pipeline: pipe,
          layout,
          cache,
          signal,
          json: Boolean(opts.json),
          reporter: opts.reporter ?? silentReporter,
          executorFor: executorsFor(pipe, opts.executor),
        },
        { jobs: Math.max(1, opts.jobs ?? 1), keepGoing: Boolean(opts.keepGoing) },
      );
      if (signal.aborted) throw new PeftError('E_CANCELLED', 'build interrupted; completed stages are committed, nothing partial was recorded', { report });
      if (snapshots && pipe.file === file) await saveSnapshot(layout, id, plan, report, file, startedMs);
      return report;
    } finally {
      // A full build that hashed every stage's inputs saw every file: forget files no stage reads any more.
      cache.save(!opts.targets?.length && !check?.reused());
    }
  } finally {
    lock.release();
  }
}

/** A lock error names the Slurm jobs the other build is waiting for. */
function withJobs(e: unknown, layout: StoreLayout): unknown {
  if (!(e instanceof PeftError) || e.code !== 'E_LOCKED') return e;
  const jobs = listJobs(layout);
  if (!jobs.length) return e;
  const list = jobs.map((j) => `${j.jobId} (${j.stage})`).join(', ');
  return new PeftError(e.code, `${e.message}; its Slurm jobs: ${list}`, { ...e.details, jobs: jobs.map((j) => ({ id: j.jobId, stage: j.stage, key: j.key })) });
}
