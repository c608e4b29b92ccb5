// Builds on a real one-node Slurm cluster started by the test (tests/helpers/slurm-cluster.ts): the same keys and
// adapter weights as a local build, independent adapters as concurrent jobs, a job cancelled with scancel, a job
// sent SIGTERM that resumes on resubmission with the weights of an uninterrupted run, and a second build while a job
// runs (it reports the job; after the first build dies, the next one adopts the job instead of submitting it again).
import { execFile } from 'node:child_process';
import { cpSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TempProject, actions, stage, waitFor } from '../../helpers/project.ts';
import { slurmMissing, startSlurmCluster, type SlurmCluster } from '../../helpers/slurm-cluster.ts';
import type { BuildReport } from '../../../src/exec/reporter.ts';
import { readRef } from '../../../src/store/refs.ts';
import { StoreLayout } from '../../../src/store/layout.ts';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const addon = existsSync(join(ROOT, 'native', 'build', 'Release', 'peft_engine.node')) ? '' : 'native addon not built (npm run build:native)';
const skip = slurmMissing() || addon;

const train = { quant: 'none', compute: 'fp32', lora: { r: 4, alpha: 8, dropout: 0 }, lr: 0.003, warmup: 1, batchSize: 4, seqLen: 64, checkpointEvery: 100 }; // no periodic checkpoint

/** stories260K learning the docs: two independent adapters (different seeds) over one dataset. */
function project(executor: Record<string, unknown> | undefined, steps: { a: number; b?: number }): TempProject {
  const p = new TempProject('peftmake-slurm-project-');
  cpSync(join(ROOT, 'docs'), p.path('docs'), { recursive: true });
  p.pipeline({
    ...(executor ? { executor } : {}),
    models: { base: { path: join(ROOT, 'models', 'stories260K') } },
    datasets: {
      docs: {
        model: 'base',
        source: { files: ['docs/*.md'], documents: 'paragraph' },
        format: 'text',
        clean: { strip: 'markdown' },
        seqLen: 64,
        split: { valid: 0.2, seed: 1 },
      },
    },
    adapters: {
      a: { base: 'base', data: 'docs', maxSteps: steps.a, ...train },
      ...(steps.b ? { b: { base: 'base', data: 'docs', maxSteps: steps.b, ...train, seed: 7 } } : {}),
    },
  });
  return p;
}

const SLURM = { kind: 'slurm', pollSeconds: 0.2 };

function weights(p: TempProject, key: string): Buffer {
  return readFileSync(p.path(`artifacts/objects/${key}/adapter_model.safetensors`));
}

function keys(r: BuildReport): Record<string, string> {
  return Object.fromEntries(r.stages.map((s) => [s.name, s.key]));
}

describe.skipIf(skip !== '')(`builds on a real Slurm cluster${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let cluster: SlurmCluster;
  const projects: TempProject[] = [];
  const track = (p: TempProject): TempProject => (projects.push(p), p);
  let local: TempProject; // the local reference build (adapters a: 24 steps, b: 4 steps)
  let localReport: BuildReport;

  const squeue = (...args: string[]): Promise<string> =>
    new Promise((res, rej) => execFile('squeue', ['-h', ...args], { env: { ...process.env, ...cluster.env } }, (e, out) => (e ? rej(e) : res(out))));
  const jobLog = (p: TempProject, key: string): string => {
    try {
      return readFileSync(p.path(`artifacts/jobs/${key}/slurm.log`), 'utf8');
    } catch {
      return '';
    }
  };
  const liveJob = (p: TempProject): { jobId: string; key: string } | undefined => {
    for (const k of p.list('artifacts/jobs')) if (p.exists(`artifacts/jobs/${k}/job.json`)) return JSON.parse(p.read(`artifacts/jobs/${k}/job.json`));
    return undefined;
  };
  /** Waits until the job of `p` has reported a training step >= `step` in its log. */
  const trainingPast = async (p: TempProject, step: number): Promise<{ jobId: string; key: string }> => {
    let job: { jobId: string; key: string } | undefined;
    await waitFor(
      () => {
        job = liveJob(p);
        if (!job) return false;
        const steps = [...jobLog(p, job.key).matchAll(/"step":(\d+)/g)].map((m) => Number(m[1]));
        return steps.some((s) => s >= step);
      },
      60_000,
      `the Slurm job to reach step ${step}`,
    );
    return job!;
  };

  beforeAll(async () => {
    cluster = await startSlurmCluster();
    Object.assign(process.env, cluster.env);
    local = track(project(undefined, { a: 24, b: 4 }));
    localReport = await local.build();
    expect(localReport.ok).toBe(true);
  }, 120_000);
  afterAll(async () => {
    for (const p of projects) p.cleanup();
    delete process.env.SLURM_CONF;
    await cluster?.stop();
  }, 60_000);
  afterEach(async () => {
    expect((await squeue('-t', 'pending,running', '-o', '%i')).trim()).toBe(''); // no job left behind
  });

  it('builds the same keys and the same adapter weights as a local build; two independent adapters run as two concurrent jobs', async () => {
    const p = track(project(undefined, { a: 24, b: 4 }));
    const seen: string[][] = [];
    let polling = true;
    const poll = (async () => {
      while (polling) {
        seen.push(
          (await squeue('-t', 'running', '-o', '%j'))
            .split('\n')
            .filter((n) => n.startsWith('peftmake:adapters.'))
            .sort(),
        );
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const logs: string[] = [];
    const r = await p
      .build({ executor: 'slurm', reporter: { stageStart() {}, progress() {}, log: (n, l) => logs.push(`${n}: ${l}`), stageEnd() {} } })
      .finally(() => (polling = false));
    await poll;
    expect(r.ok).toBe(true);
    expect(keys(r)).toEqual(keys(localReport));
    expect(actions(r)).toEqual({ 'models.base': 'built', 'datasets.docs': 'built', 'adapters.a': 'built', 'adapters.b': 'built' });
    for (const name of ['adapters.a', 'adapters.b']) expect(weights(p, stage(r, name).key).equals(weights(local, stage(localReport, name).key))).toBe(true);
    // both adapters were running as Slurm jobs at the same moment
    expect(seen.some((names) => names.length === 2 && names[0].startsWith('peftmake:adapters.a:') && names[1].startsWith('peftmake:adapters.b:'))).toBe(true);
    // light stages ran here; each adapter's job id is in its version history and manifest
    const layout = new StoreLayout(p.dir);
    for (const name of ['adapters.a', 'adapters.b']) {
      const v = readRef(layout, name)!.versions[0];
      expect(v.job).toMatchObject({ executor: 'slurm', node: cluster.node });
      expect(v.job!.attempts).toEqual([v.job!.id]);
      expect(JSON.parse(p.read(`artifacts/objects/${v.key}/manifest.json`)).job.id).toBe(v.job!.id);
      expect(logs).toContain(`${name}: Slurm job ${v.job!.id} submitted`);
    }
    expect(readRef(layout, 'datasets.docs')!.versions[0].job).toBeUndefined();
    expect(logs.some((l) => l.startsWith('adapters.a: adapters.a: compute fp32'))).toBe(true); // the job's log, streamed
    expect(p.list('artifacts/jobs')).toEqual([]); // job files are gone once committed
    const again = await p.build({ executor: 'slurm' });
    expect(Object.values(actions(again))).toEqual(['fresh', 'fresh', 'fresh', 'fresh']);
  }, 120_000);

  it('a job sent SIGTERM checkpoints, is resubmitted and resumes, ending with the weights of an uninterrupted run', async () => {
    const p = track(project(SLURM, { a: 24 }));
    const logs: string[] = [];
    const building = p.build({ reporter: { stageStart() {}, progress() {}, log: (n, l) => logs.push(`${n}: ${l}`), stageEnd() {} } });
    const job = await trainingPast(p, 6);
    cluster.cmd('scancel', ['--batch', '--signal=TERM', job.jobId]); // what Slurm sends at preemption or the time limit
    const r = await building;
    expect(r.ok).toBe(true);
    const a = stage(r, 'adapters.a');
    expect(a.key).toBe(stage(localReport, 'adapters.a').key);
    expect(weights(p, a.key).equals(weights(local, a.key))).toBe(true);
    const v = readRef(new StoreLayout(p.dir), 'adapters.a')!.versions[0];
    expect(v.job!.attempts).toHaveLength(2);
    expect(v.job!.attempts[0]).toBe(job.jobId);
    // the job checkpointed the step it had reached when SIGTERM came (there is no periodic checkpoint before 24)
    const at = Number(/adapters\.a: adapters\.a: checkpoint written at step (\d+)\/24/.exec(logs.join('\n'))?.[1]);
    expect(at).toBeGreaterThanOrEqual(6);
    expect(at).toBeLessThan(24);
    expect(logs).toContain(`adapters.a: Slurm job ${job.jobId} was preempted (SIGTERM); resubmitting: it resumes from its checkpoint`);
    expect(logs).toContain(`adapters.a: adapters.a: resuming from the checkpoint at step ${at}/24`);
    expect(v.metrics.resumed_from_step).toBe(at);
    // the training log has every step once, and the metrics are those of the uninterrupted run
    const log = p
      .read(`artifacts/objects/${a.key}/train_log.jsonl`)
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { step: number; loss: number });
    expect(log.map((r) => r.step)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
    const ref = readRef(new StoreLayout(local.dir), 'adapters.a')!.versions[0].metrics;
    for (const m of ['train_loss', 'first_loss', 'valid_loss', 'tokens_seen']) expect(v.metrics[m]).toBe(ref[m]);
    expect(p.list('artifacts/resume')).toEqual([]);
    const history = await p.cli(['log', 'adapters.a']);
    expect(history.stdout).toContain(`slurm job ${v.job!.id} on ${cluster.node} (attempts ${v.job!.attempts.join(', ')})`);
  }, 120_000);

  it('a job cancelled with scancel fails its stage clearly and leaves the store consistent', async () => {
    const p = track(project(SLURM, { a: 400 }));
    const building = p.build();
    const job = await trainingPast(p, 2);
    cluster.cmd('scancel', [job.jobId]);
    const r = await building;
    expect(r.ok).toBe(false);
    const a = stage(r, 'adapters.a');
    expect(a.action).toBe('failed');
    expect(a.error).toMatch(new RegExp(`^adapters\\.a: Slurm job ${job.jobId} was cancelled \\(exit code \\d+:\\d+\\); nothing was committed`));
    expect(p.exists(`artifacts/objects/${job.key}`)).toBe(false);
    expect(p.exists('artifacts/refs/adapters.a.json')).toBe(false);
    expect(p.exists(`artifacts/jobs/${job.key}/job.json`)).toBe(false);
    expect(p.exists(`artifacts/jobs/${job.key}/out`)).toBe(false);
    expect(readdirSync(p.path('artifacts/objects')).every((k) => existsSync(p.path(`artifacts/objects/${k}/manifest.json`)))).toBe(true);
    const s = await p.status();
    expect(actions(s)).toEqual({ 'models.base': 'fresh', 'datasets.docs': 'fresh', 'adapters.a': 'built' });

    // Ctrl-C on the build cancels its job
    const ctrlC = new AbortController();
    const again = p.build({ signal: ctrlC.signal });
    const job2 = await trainingPast(p, 2);
    expect(job2.jobId).not.toBe(job.jobId);
    ctrlC.abort();
    await expect(again).rejects.toMatchObject({ code: 'E_CANCELLED' });
    expect(cluster.cmd('scontrol', ['show', 'job', '-o', job2.jobId])).toMatch(/JobState=CANCELLED/);
    expect(p.exists(`artifacts/jobs/${job2.key}/job.json`)).toBe(false);
    expect(p.exists('artifacts/refs/adapters.a.json')).toBe(false);
  }, 120_000);

  it('a failing job fails its stage with its exit code and log tail, and cancels the other jobs without --keep-going', async () => {
    const p = track(project(SLURM, { a: 400 }));
    const pipeline = JSON.parse(p.read('pipeline.json'));
    pipeline.stages = { bad: { cmd: 'echo about to fail; sleep 2; exit 3', heavy: true } };
    p.pipeline(pipeline);
    const r = await p.build();
    expect(r.ok).toBe(false);
    const bad = stage(r, 'stages.bad');
    expect(bad.action).toBe('failed');
    expect(bad.error).toMatch(
      /^stages\.bad: Slurm job \d+ failed \(exit code 1:0, NonZeroExitCode\): stages\.bad: command `echo about to fail; sleep 2; exit 3` exited with code 3; nothing was committed\nlast lines of its log \(.*slurm\.log\):\n/,
    );
    expect(bad.error).toContain('  about to fail');
    const a = stage(r, 'adapters.a');
    expect(a.action).toBe('failed');
    expect(a.error).toMatch(/^adapters\.a: Slurm job \d+ cancelled \(stages\.bad failed and --keep-going is off\); nothing was committed$/);
    expect(p.list('artifacts/jobs').filter((k) => p.exists(`artifacts/jobs/${k}/job.json`))).toEqual([]);
  }, 120_000);

  it('a second build while a job runs reports it; after the first build dies the next adopts the job, never submitting the key twice', async () => {
    const p = track(project(SLURM, { a: 24 }));
    const first = p.spawnCli(['build', '--json']);
    const job = await trainingPast(p, 1);
    const second = await p.cli(['build']);
    expect(second.code).toBe(75);
    expect(second.stderr).toContain(`error[E_LOCKED]: another build holds the lock: pid ${first.pid}`);
    expect(second.stderr).toContain(`; its Slurm jobs: ${job.jobId} (adapters.a)`);
    first.kill('SIGKILL'); // the build dies; its job runs on
    await first;
    expect((await squeue('-t', 'pending,running', '-o', '%i')).trim()).toBe(job.jobId);
    const third = await p.cli(['build', '--json']);
    expect(third.code).toBe(0);
    const r = JSON.parse(third.stdout) as BuildReport;
    expect(stage(r, 'adapters.a').action).toBe('built');
    expect(weights(p, job.key).equals(weights(local, job.key))).toBe(true);
    const v = readRef(new StoreLayout(p.dir), 'adapters.a')!.versions[0];
    expect(v.job).toMatchObject({ id: job.jobId, attempts: [job.jobId] });
    const here = (await squeue('-t', 'all', '-o', '%i|%j|%Z')).split('\n').filter((l) => l.endsWith(`|${p.dir}`));
    expect(here).toEqual([`${job.jobId}|peftmake:adapters.a:${job.key.slice(0, 12)}|${p.dir}`]); // one job for this project, ever
  }, 120_000);
});

describe('the Slurm executor without Slurm', () => {
  it('fails the stage with a clear message when sbatch is not on PATH, and leaves no job files', async () => {
    const p = new TempProject('peftmake-slurm-absent-');
    try {
      p.pipeline({ stages: { s: { cmd: 'echo hi > out.txt', outs: ['out.txt'], executor: { kind: 'slurm' } } } });
      const path = process.env.PATH;
      process.env.PATH = '/nonexistent';
      let r: BuildReport;
      try {
        r = await p.build();
      } finally {
        process.env.PATH = path;
      }
      expect(stage(r, 'stages.s')).toMatchObject({
        action: 'failed',
        error: "stages.s: sbatch: command not found (Slurm's client commands are not installed or not on PATH)",
      });
      expect(p.list('artifacts/jobs')).toEqual([]);
      const local = await p.build({ executor: 'local' });
      expect(stage(local, 'stages.s').action).toBe('built');
      expect(p.read('out.txt')).toBe('hi\n');
    } finally {
      p.cleanup();
    }
  });
});
