// The Slurm executor: a stage that must be built becomes one sbatch job running `peftmake run-stage` on the shared
// project; the build watches it (squeue, then scontrol show job), streams its log into the progress, cancels it on
// Ctrl-C (scancel), resubmits it after a preemption or time limit (it resumes from its checkpoint), and hands the
// job's out/ to the build to commit. A job left running by a build that died is adopted, never submitted twice.
import { closeSync, existsSync, mkdirSync, openSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { PeftError } from '../../errors.ts';
import type { SlurmOptions } from './choose.ts';
import { decodeLine, LineSplitter } from './job-events.ts';
import { JobFiles, PREEMPTED_EXIT, type WorkerResult } from './job-files.ts';
import { batchScript, defaultLauncher, jobSpec, sbatchArgs } from './sbatch-plan.ts';
import { queueStates, scancel, sbatch, showJob, type JobInfo } from '../../slurm/commands.ts';
import type { Executor, JobRecord, StageRunOutput, StageTask } from './types.ts';

/** Job states in which the job still runs, or may run again. */
const ACTIVE = new Set([
  'PENDING',
  'RUNNING',
  'CONFIGURING',
  'COMPLETING',
  'SUSPENDED',
  'REQUEUED',
  'REQUEUE_HOLD',
  'REQUEUE_FED',
  'RESIZING',
  'SIGNALING',
  'STAGE_OUT',
  'STOPPED',
]);
/** End states after which the stage is resubmitted (it resumes from its checkpoint). */
const RESUBMIT = new Set(['PREEMPTED', 'TIMEOUT', 'NODE_FAIL', 'BOOT_FAIL', 'DEADLINE']);
const DEFAULT_RESUBMIT = 3;
const DEFAULT_POLL_SECONDS = 2;
const LOG_TAIL_LINES = 15;
const MAX_UNREACHABLE = 30;

/** squeue kept failing: the job may still run, so its job.json stays and the next build adopts it. */
class SlurmUnreachable extends PeftError {
  constructor(stage: string, id: string, cause: unknown) {
    super('E_SLURM', `${stage}: lost touch with Slurm while following job ${id}: ${(cause as Error).message}`, {
      hint: 'the job may still be running; the next `peftmake build` follows it (or `scancel` it)',
    });
  }
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((r) => {
    if (signal.aborted) return r();
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      r();
    }
  });

/** Follows a job's log file from an offset: events go to the reporter, the rest are log lines (last ones kept). */
class LogFollower {
  private offset = 0;
  private split = new LineSplitter();
  readonly tail: string[] = [];
  constructor(
    private path: string,
    private onEvent: (e: ReturnType<typeof decodeLine>) => void,
  ) {}
  pump(final = false): void {
    let size = 0;
    try {
      size = statSync(this.path).size;
    } catch {
      return;
    }
    if (size < this.offset) this.offset = 0; // truncated: a fresh submission
    if (size > this.offset) {
      const buf = Buffer.alloc(size - this.offset);
      const fd = openSync(this.path, 'r');
      try {
        readSync(fd, buf, 0, buf.length, this.offset);
      } finally {
        closeSync(fd);
      }
      this.offset = size;
      for (const line of this.split.push(buf.toString('utf8'))) this.line(line);
    }
    if (final) for (const line of this.split.flush()) this.line(line);
  }
  private line(raw: string): void {
    const e = decodeLine(raw);
    if (e.t === 'log' && e.line.trim()) {
      this.tail.push(e.line);
      if (this.tail.length > LOG_TAIL_LINES) this.tail.shift();
    }
    this.onEvent(e);
  }
}

export class SlurmExecutor implements Executor {
  readonly kind = 'slurm' as const;
  constructor(
    private readonly opts: SlurmOptions,
    private readonly launcher: readonly string[] = defaultLauncher(),
  ) {}

  async run(task: StageTask): Promise<StageRunOutput> {
    const { p, env, signal } = task;
    const files = new JobFiles(env.layout, p.key);
    const say = (line: string): void => env.reporter.log(p.name, line);
    const follower = new LogFollower(files.log, (e) => (e.t === 'progress' ? env.reporter.progress(p.name, e.p) : env.reporter.log(p.name, e.line)));
    const pollMs = (this.opts.pollSeconds ?? DEFAULT_POLL_SECONDS) * 1000;
    const maxResubmit = this.opts.resubmit ?? DEFAULT_RESUBMIT;
    const spec = jobSpec(p.name, p.key, env.pipeline.projectDir, env.pipeline.file, files.dir);

    let attempts: string[] = [];
    let id = await this.adopt(files, say);
    if (id) attempts = files.readJob()!.attempts;
    try {
      while (true) {
        if (!id) {
          id = await this.submit(files, spec, p.name, attempts.length === 0);
          attempts.push(id);
          files.writeJob({
            stage: p.name,
            key: p.key,
            jobId: id,
            attempts,
            submittedAt: new Date().toISOString(),
            controller: { pid: process.pid, host: hostname() },
          });
          say(`Slurm job ${id} submitted${attempts.length > 1 ? ` (attempt ${attempts.length})` : ''}`);
        }
        const info = await this.watch(id, files, follower, pollMs, signal, (state) =>
          env.reporter.progress(p.name, { message: `Slurm job ${id} ${state.toLowerCase()}` }),
        );
        follower.pump(true);
        const result = files.readResult();
        const state = info?.state ?? (result ? (result.ok ? 'COMPLETED' : 'FAILED') : 'UNKNOWN');
        if (state === 'COMPLETED' && result?.ok && existsSync(files.outDir)) {
          const job: JobRecord = { executor: 'slurm', id, attempts: [...attempts], ...(info?.node || result.host ? { node: info?.node || result.host } : {}) };
          return { outDir: files.outDir, result: result.result ?? {}, host: result.host, job, release: () => this.drop(files, true) };
        }
        const preempted = RESUBMIT.has(state) || (state !== 'CANCELLED' && (result?.preempted || info?.exitCode.startsWith(`${PREEMPTED_EXIT}:`)));
        if (preempted && attempts.length <= maxResubmit) {
          say(`Slurm job ${id} ${state === 'FAILED' ? 'was preempted (SIGTERM)' : state.toLowerCase()}; resubmitting: it resumes from its checkpoint`);
          id = undefined;
          continue;
        }
        throw this.failure(p.name, id, state, info, result, follower.tail, preempted ? attempts.length : 0, files);
      }
    } catch (e) {
      if (!(e instanceof SlurmUnreachable)) this.drop(files, false);
      throw e;
    }
  }

  /** A job.json left by an earlier build: adopt its job while Slurm still runs it (or it finished well); else drop it. */
  private async adopt(files: JobFiles, say: (l: string) => void): Promise<string | undefined> {
    const prior = files.readJob();
    if (!prior) return undefined;
    const state = (await queueStates([prior.jobId])).get(prior.jobId);
    const done = files.readResult();
    // Finished well: Slurm may have forgotten it already (MinJobAge); its result and outputs are on disk.
    const finished = done?.ok && existsSync(files.outDir) && (state === undefined || state === 'COMPLETED');
    if ((state && ACTIVE.has(state)) || finished) {
      say(
        `adopting Slurm job ${prior.jobId} (${(state ?? 'finished').toLowerCase()}), submitted by an earlier build (pid ${prior.controller.pid} on ${prior.controller.host})`,
      );
      return prior.jobId;
    }
    this.drop(files, false);
    return undefined;
  }

  private async submit(files: JobFiles, spec: ReturnType<typeof jobSpec>, stage: string, fresh: boolean): Promise<string> {
    rmSync(files.outDir, { recursive: true, force: true });
    rmSync(files.resultFile, { force: true });
    mkdirSync(files.dir, { recursive: true });
    if (fresh) writeFileSync(files.log, ''); // resubmissions append to the same log
    writeFileSync(spec.script, batchScript(spec, this.launcher), { mode: 0o755 });
    try {
      return await sbatch(sbatchArgs(this.opts, spec));
    } catch (e) {
      if (e instanceof PeftError)
        throw new PeftError(e.code, `${stage}: ${e.message}`, {
          hint: 'check the executor options in pipeline.json (partition, account, time ...) or run with `--executor local`',
        });
      throw e;
    }
  }

  /** Polls the queue until the job leaves it, streaming its log; on abort cancels the job and waits for it to end. */
  private async watch(
    id: string,
    files: JobFiles,
    follower: LogFollower,
    pollMs: number,
    signal: AbortSignal,
    onState: (s: string) => void,
  ): Promise<JobInfo | undefined> {
    let last = '';
    let cancelled = false;
    let unreachable = 0;
    while (true) {
      follower.pump();
      if (signal.aborted && !cancelled) {
        cancelled = true;
        await scancel(id);
      }
      let state: string | undefined;
      try {
        state = (await queueStates([id])).get(id);
        unreachable = 0;
      } catch (e) {
        // slurmctld busy or restarting: keep following; after ~MAX_UNREACHABLE polls give up, leaving job.json for adoption
        if (++unreachable >= MAX_UNREACHABLE) throw new SlurmUnreachable(files.readJob()?.stage ?? 'stage', id, e);
        await sleep(pollMs, cancelled ? new AbortController().signal : signal);
        continue;
      }
      if (!state || !ACTIVE.has(state)) break;
      if (state !== last && state !== 'RUNNING') onState(state);
      last = state;
      await sleep(pollMs, cancelled ? new AbortController().signal : signal);
    }
    if (cancelled) {
      follower.pump(true);
      const why = signal.reason instanceof PeftError ? signal.reason.message : 'build interrupted';
      throw new PeftError('E_CANCELLED', `${files.readJob()?.stage ?? 'stage'}: Slurm job ${id} cancelled (${why}); nothing was committed`);
    }
    return showJob(id);
  }

  private failure(
    stage: string,
    id: string,
    state: string,
    info: JobInfo | undefined,
    result: WorkerResult | undefined,
    tail: string[],
    preemptions: number,
    files: JobFiles,
  ): PeftError {
    const exit = info ? ` (exit code ${info.exitCode}${info.reason && info.reason !== 'None' ? `, ${info.reason}` : ''})` : '';
    let what: string;
    if (state === 'CANCELLED') what = `Slurm job ${id} was cancelled${exit}`;
    else if (preemptions) what = `Slurm job ${id} ${state.toLowerCase()}${exit}; gave up after ${preemptions} attempts (executor.resubmit)`;
    else if (result?.error) what = `Slurm job ${id} failed${exit}: ${result.error.message}`;
    else what = `Slurm job ${id} ended ${state}${exit}`;
    const logTail = tail.length ? `\nlast lines of its log (${files.log}):\n  ${tail.join('\n  ')}` : '';
    return new PeftError(result?.error?.code && state !== 'CANCELLED' ? result.error.code : 'E_SLURM', `${stage}: ${what}; nothing was committed${logTail}`, {
      job: id,
      state,
      hint: result?.error?.hint ?? 'see the job log; `peftmake build` resubmits the stage (a checkpoint in the resume area is kept)',
    });
  }

  /** Removes the job's files (the resume area is the stage's, kept until commit); the log of a failed job stays. */
  private drop(files: JobFiles, all: boolean): void {
    let keepLog = false;
    try {
      keepLog = !all && statSync(files.log).size > 0;
    } catch {
      keepLog = false;
    }
    if (!keepLog) {
      rmSync(files.dir, { recursive: true, force: true });
      return;
    }
    for (const f of [files.jobFile, files.resultFile, files.script, files.outDir]) rmSync(f, { recursive: true, force: true });
  }
}

export function slurmExecutor(opts: SlurmOptions): SlurmExecutor {
  return new SlurmExecutor(opts);
}
