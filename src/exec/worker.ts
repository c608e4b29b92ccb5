// What `peftmake run-stage <stage> --key <key>` does inside a Slurm job: plans the stage again on the compute node
// (its key must be the one the build submitted), runs its kind into the job's out/ with the stage's resume area,
// reports progress and log lines as events on stdout (the job log), and writes result.json. SIGTERM (preemption,
// time limit) aborts the run; the stage's checkpoint stays in the resume area and the exit status says "resubmit".
import { mkdirSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { writeJsonAtomic } from '../store/atomic.ts';
import { PeftError } from '../errors.ts';
import { loadPipeline } from '../config/load.ts';
import { HashCache } from '../hash/hash-cache.ts';
import { StoreLayout } from '../store/layout.ts';
import { requireManifest } from '../store/objects.ts';
import { currentVersion, readRef } from '../store/refs.ts';
import { planBuild } from '../plan/plan.ts';
import type { Toolchain, UpstreamArtifact } from '../stage.ts';
import { runKind } from './executors/local.ts';
import { encodeEvent } from './executors/job-events.ts';
import { JobFiles, PREEMPTED_EXIT, type WorkerResult } from './executors/job-files.ts';

export interface WorkerOptions {
  /** The stage kinds and engine version (the CLI's src/cli/toolchain.ts). */
  toolchain: Toolchain;
  file: string;
  stage: string;
  key: string;
  jobDir?: string;
  /** Aborted on SIGTERM / SIGINT. */
  signal: AbortSignal;
  write?: (text: string) => void;
}

function upstreamArtifact(layout: StoreLayout, name: string, key: string): UpstreamArtifact {
  const manifest = requireManifest(layout, key, name);
  const version = readRef(layout, name)?.versions.find((v) => v.key === key)?.version ?? 0;
  return { name, kind: manifest.kind, key, version, dir: layout.object(key), manifest };
}

/** Runs the stage; returns the process exit status (0 done, PREEMPTED_EXIT interrupted with a checkpoint, 1 failed). */
export async function runStageWorker(o: WorkerOptions): Promise<number> {
  const t0 = performance.now();
  const write = o.write ?? ((t: string) => void process.stdout.write(t));
  const pipeline = loadPipeline(o.file, { kinds: o.toolchain.kinds });
  const layout = new StoreLayout(pipeline.projectDir);
  const files = new JobFiles(layout, o.key);
  if (o.jobDir && o.jobDir !== files.dir) throw new PeftError('E_USAGE', `--job-dir ${o.jobDir} is not the job directory of key ${o.key} (${files.dir})`);
  const finish = (r: Omit<WorkerResult, 'host' | 'seconds'>): void =>
    writeJsonAtomic(files.resultFile, { ...r, host: hostname(), seconds: (performance.now() - t0) / 1000 } satisfies WorkerResult);
  try {
    const plan = await planBuild(pipeline, layout, new HashCache(layout.hashCache), {
      engineVersion: o.toolchain.engineVersion,
      targets: [o.stage],
      signal: o.signal,
    });
    const p = plan.find((x) => x.name === o.stage);
    if (!p) throw new PeftError('E_NOT_FOUND', `no stage "${o.stage}" in ${pipeline.label}`);
    if (p.error) throw new PeftError('E_STAGE_FAILED', `${o.stage}: ${p.error}`);
    if (p.key !== o.key)
      throw new PeftError(
        'E_INPUT_CHANGED',
        `${o.stage}: on ${hostname()} its inputs give key ${p.key.slice(0, 12)}, the build submitted ${o.key.slice(0, 12)}; nothing was run`,
        {
          hint: 'an input changed after the build planned, or the compute node sees other files (is the project on a shared filesystem?)',
        },
      );
    const upstream = Object.fromEntries(Object.entries(p.material.upstream).map(([u, k]) => [u, upstreamArtifact(layout, u, k)]));
    const cur = currentVersion(readRef(layout, p.name));
    let previous: UpstreamArtifact | undefined;
    if (cur && cur.key !== p.key) {
      try {
        previous = upstreamArtifact(layout, p.name, cur.key);
      } catch {
        previous = undefined;
      }
    }
    rmSync(files.outDir, { recursive: true, force: true });
    mkdirSync(files.outDir, { recursive: true });
    const result = await runKind(p, {
      pipeline,
      outDir: files.outDir,
      resumeDir: layout.resume(p.name, p.key),
      upstream,
      previous,
      signal: o.signal,
      checkpointOnAbort: true,
      json: true,
      progress: (pr) => write(encodeEvent({ t: 'progress', p: pr })),
      log: (line) => write(encodeEvent({ t: 'log', line })),
    });
    if (o.signal.aborted) throw new PeftError('E_CANCELLED', `${o.stage}: interrupted`);
    finish({ ok: true, result });
    return 0;
  } catch (e) {
    const err = e instanceof PeftError ? e : new PeftError('E_INTERNAL', e instanceof Error ? `${e.name}: ${e.message}` : String(e));
    const preempted = o.signal.aborted;
    write(`${preempted ? 'interrupted (SIGTERM): the checkpoint in the resume area is kept; resubmit to resume' : `error: ${err.message}`}\n`);
    finish({
      ok: false,
      ...(preempted ? { preempted: true } : {}),
      error: { code: String(err.code), message: err.message, ...(err.details.hint ? { hint: err.details.hint } : {}) },
    });
    return preempted ? PREEMPTED_EXIT : 1;
  }
}
