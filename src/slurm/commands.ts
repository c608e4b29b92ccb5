// Thin wrappers over the Slurm commands the build uses: sbatch, squeue, scontrol show job, scancel, sinfo. Accounting
// (sacct) is never needed: finished jobs are read with scontrol while slurmctld still remembers them (MinJobAge).
import { execFile } from 'node:child_process';
import { PeftError } from '../errors.ts';

interface Ran {
  stdout: string;
  stderr: string;
  code: number;
}

function run(cmd: string, args: readonly string[], timeoutMs = 60_000): Promise<Ran> {
  return new Promise((resolveRun, reject) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: string | number }) | null;
      if (e && e.code === 'ENOENT')
        return reject(
          new PeftError('E_SLURM', `${cmd}: command not found (Slurm's client commands are not installed or not on PATH)`, {
            hint: 'run the build on a login node of the cluster, or use `--executor local`',
          }),
        );
      resolveRun({ stdout, stderr, code: e ? (typeof e.code === 'number' ? e.code : 1) : 0 });
    });
  });
}

function failed(cmd: string, args: readonly string[], r: Ran): PeftError {
  const msg = (r.stderr || r.stdout).trim().split('\n').slice(-3).join('; ');
  return new PeftError('E_SLURM', `\`${cmd} ${args.join(' ')}\` failed (exit ${r.code}): ${msg}`);
}

/** Submits a batch job; returns its id. */
export async function sbatch(args: readonly string[]): Promise<string> {
  const r = await run('sbatch', args);
  if (r.code !== 0) throw failed('sbatch', args, r);
  const id = r.stdout.trim().split(';')[0]; // --parsable: "id" or "id;cluster"
  if (!/^\d+(_\d+)?$/.test(id)) throw new PeftError('E_SLURM', `sbatch printed no job id: ${r.stdout.trim().slice(0, 200)}`);
  return id;
}

/** The states of the given jobs that the queue still lists (pending, running, completing, ...), by id. */
export async function queueStates(ids: readonly string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (ids.length === 0) return out;
  const args = ['-h', '-t', 'all', '-j', ids.join(','), '-o', '%i %T'];
  const r = await run('squeue', args);
  // squeue exits non-zero when none of the ids is known any more: that is an empty answer, not an error.
  if (r.code !== 0 && !/Invalid job id/i.test(r.stderr)) throw failed('squeue', args, r);
  for (const line of r.stdout.split('\n')) {
    const [id, state] = line.trim().split(/\s+/);
    if (id && state) out.set(id, state);
  }
  return out;
}

export interface JobInfo {
  id: string;
  state: string; // JobState: PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, PREEMPTED, NODE_FAIL, OUT_OF_MEMORY ...
  exitCode: string; // "code:signal"
  reason: string;
  node: string;
}

/** `scontrol show job -o`; undefined when slurmctld no longer knows the job. */
export async function showJob(id: string): Promise<JobInfo | undefined> {
  const args = ['show', 'job', '-o', id];
  const r = await run('scontrol', args);
  if (r.code !== 0) {
    if (/Invalid job id/i.test(r.stderr + r.stdout)) return undefined;
    throw failed('scontrol', args, r);
  }
  const fields = new Map<string, string>();
  for (const m of r.stdout.matchAll(/(\w+)=(\S*)/g)) if (!fields.has(m[1])) fields.set(m[1], m[2]);
  return {
    id,
    state: fields.get('JobState') ?? 'UNKNOWN',
    exitCode: fields.get('ExitCode') ?? '?',
    reason: fields.get('Reason') ?? '',
    node: fields.get('BatchHost') ?? fields.get('NodeList') ?? '',
  };
}

export async function scancel(id: string): Promise<void> {
  const r = await run('scancel', [id]);
  if (r.code !== 0 && !/Invalid job id|already completing or completed/i.test(r.stderr)) throw failed('scancel', [id], r);
}

export interface Partition {
  name: string;
  default: boolean;
  available: string; // up / down
  timeLimit: string;
  nodes: number;
  states: string; // node states, e.g. "idle" or "mixed,alloc"
}

/** `sinfo` arguments whose output parsePartitions reads. */
export const SINFO_ARGS = ['-h', '-o', '%P|%a|%l|%D|%T'];

/** Partitions from `sinfo -h -o '%P|%a|%l|%D|%T'` (one line per partition and node state; `*` marks the default). */
export function parsePartitions(stdout: string): Partition[] {
  const byName = new Map<string, Partition>();
  for (const line of stdout.split('\n').filter(Boolean)) {
    const [rawName, available, timeLimit, nodes, state] = line.split('|');
    const name = rawName.replace(/\*$/, '');
    const p = byName.get(name);
    if (p) {
      p.nodes += Number(nodes) || 0;
      p.states = `${p.states},${state}`;
    } else byName.set(name, { name, default: rawName.endsWith('*'), available, timeLimit, nodes: Number(nodes) || 0, states: state });
  }
  return [...byName.values()];
}
