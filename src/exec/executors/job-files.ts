// Where a stage's Slurm job keeps its files on the shared store: artifacts/jobs/<key>/ holds job.json (the job ids
// and the stage), job.sh (the batch script), slurm.log (the job's output), result.json (what run-stage reports) and
// out/ (the stage's outputs, committed by the build). One key has at most one live job.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { StoreLayout } from '../../store/layout.ts';
import type { RunResult } from '../../stage.ts';
import { writeJsonAtomic } from '../../store/atomic.ts';

export interface JobFile {
  stage: string;
  key: string;
  jobId: string;
  attempts: string[];
  submittedAt: string;
  controller: { pid: number; host: string };
}

/** What run-stage writes when it ends (ok, failed, or preempted: a checkpoint is in the resume area). */
export interface WorkerResult {
  ok: boolean;
  preempted?: boolean;
  result?: RunResult;
  error?: { code: string; message: string; hint?: string };
  host: string;
  seconds: number;
}

/** Exit status of run-stage after SIGTERM with a checkpoint written (EX_TEMPFAIL): resubmit it. */
export const PREEMPTED_EXIT = 75;

export class JobFiles {
  readonly dir: string;
  constructor(
    layout: StoreLayout,
    readonly key: string,
  ) {
    this.dir = join(jobsRoot(layout), key);
  }
  get jobFile(): string {
    return join(this.dir, 'job.json');
  }
  get script(): string {
    return join(this.dir, 'job.sh');
  }
  get log(): string {
    return join(this.dir, 'slurm.log');
  }
  get resultFile(): string {
    return join(this.dir, 'result.json');
  }
  get outDir(): string {
    return join(this.dir, 'out');
  }
  readJob(): JobFile | undefined {
    return readJson<JobFile>(this.jobFile);
  }
  writeJob(j: JobFile): void {
    writeJsonAtomic(this.jobFile, j);
  }
  readResult(): WorkerResult | undefined {
    return readJson<WorkerResult>(this.resultFile);
  }
}

export function jobsRoot(layout: StoreLayout): string {
  return join(layout.root, 'jobs');
}

/** Every job.json in the store (the jobs a build submitted and has not yet committed or dropped). */
export function listJobs(layout: StoreLayout): JobFile[] {
  let keys: string[];
  try {
    keys = readdirSync(jobsRoot(layout));
  } catch {
    return [];
  }
  return keys.map((k) => new JobFiles(layout, k).readJob()).filter((j): j is JobFile => j !== undefined);
}

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}
