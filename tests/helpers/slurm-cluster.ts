// A private one-node Slurm cluster for tests (Debian slurm-wlm + munge): its own munged (key, socket), slurmctld and
// slurmd on free ports, all state in a temp dir; no systemd, cgroups or accounting. `stop()` cancels every job, then
// stops slurmd, slurmctld and munged by their pid files (a running slurmstepd would outlive slurmd otherwise).
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

const SBIN = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];
const need = ['munged', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'scontrol', 'scancel', 'sinfo'];

function which(cmd: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), ...SBIN].filter(Boolean);
  return dirs.map((d) => join(d, cmd)).find((p) => existsSync(p));
}

/** Why a cluster cannot be started here ('' when it can). */
export function slurmMissing(): string {
  const absent = need.filter((c) => !which(c));
  if (absent.length) return `Slurm is not installed (no ${absent.join(', ')}: apt-get install slurm-wlm munge)`;
  return '';
}

export interface SlurmCluster {
  dir: string;
  conf: string;
  node: string;
  /** Environment for Slurm clients (sbatch, squeue ...) and for peftmake builds submitting to this cluster. */
  env: Record<string, string>;
  /** Runs a Slurm client command against this cluster; returns stdout. */
  cmd(name: string, args: string[]): string;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); // a zombie is gone
  } catch {
    return false;
  }
}

async function stopByPidFile(file: string): Promise<void> {
  let pid: number;
  try {
    pid = Number(readFileSync(file, 'utf8').trim());
  } catch {
    return;
  }
  if (!pid || !alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && alive(pid); i++) await sleep(50);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

function run(bin: string, args: string[], env: Record<string, string>): void {
  const r = spawnSync(which(bin)!, args, { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });
  if (r.status !== 0) throw new Error(`${bin} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.stdout}`);
}

/** Starts the cluster; ready once its node is idle. `cpus` is what the node offers (config_overrides: may exceed the machine's). */
export async function startSlurmCluster(opts: { cpus?: number } = {}): Promise<SlurmCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'peftmake-slurm-'));
  chmodSync(dir, 0o755); // munged and slurmd refuse group/world-writable or private state dirs in some checks
  for (const d of ['state', 'spool']) mkdirSync(join(dir, d), { mode: 0o755 });
  const key = join(dir, 'munge.key');
  writeFileSync(key, randomBytes(1024), { mode: 0o400 });
  const socket = join(dir, 'munge.sock');
  const conf = join(dir, 'slurm.conf');
  const env = { SLURM_CONF: conf };
  const stop = async (): Promise<void> => {
    try {
      if (existsSync(join(dir, 'slurmctld.pid'))) {
        spawnSync(which('scancel')!, ['--user', userInfo().username], { env: { ...process.env, ...env }, timeout: 15_000 });
        for (let i = 0; i < 100; i++) {
          const q = spawnSync(which('squeue')!, ['-h', '-o', '%i'], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 15_000 });
          if (q.status !== 0 || !q.stdout.trim()) break;
          await sleep(100);
        }
      }
    } finally {
      await stopByPidFile(join(dir, 'slurmd.pid'));
      await stopByPidFile(join(dir, 'slurmctld.pid'));
      await stopByPidFile(join(dir, 'munged.pid'));
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    run(
      'munged',
      [
        `--socket=${socket}`,
        `--key-file=${key}`,
        `--pid-file=${join(dir, 'munged.pid')}`,
        `--log-file=${join(dir, 'munged.log')}`,
        `--seed-file=${join(dir, 'munged.seed')}`,
      ],
      {},
    );
    const probe = execFileSync(which('slurmd')!, ['-C'], { encoding: 'utf8' }).split('\n')[0];
    const node = /NodeName=(\S+)/.exec(probe)?.[1] ?? hostname().split('.')[0];
    const memory = /RealMemory=(\d+)/.exec(probe)?.[1] ?? '1000';
    const cpus = opts.cpus ?? 4;
    const [ctldPort, slurmdPort] = [await freePort(), await freePort()];
    const user = userInfo().username;
    writeFileSync(
      conf,
      [
        `ClusterName=pm${randomBytes(3).toString('hex')}`,
        `SlurmctldHost=${hostname().split('.')[0]}`,
        `SlurmctldPort=${ctldPort}`,
        `SlurmdPort=${slurmdPort}`,
        `SlurmUser=${user}`,
        `SlurmdUser=${user}`,
        'AuthType=auth/munge',
        `AuthInfo=socket=${socket}`,
        'CredType=cred/munge',
        `StateSaveLocation=${join(dir, 'state')}`,
        `SlurmdSpoolDir=${join(dir, 'spool')}`,
        `SlurmctldPidFile=${join(dir, 'slurmctld.pid')}`,
        `SlurmdPidFile=${join(dir, 'slurmd.pid')}`,
        `SlurmctldLogFile=${join(dir, 'slurmctld.log')}`,
        `SlurmdLogFile=${join(dir, 'slurmd.log')}`,
        'ProctrackType=proctrack/linuxproc',
        'TaskPlugin=task/none',
        'JobAcctGatherType=jobacct_gather/none',
        'AccountingStorageType=accounting_storage/none',
        'JobCompType=jobcomp/filetxt',
        `JobCompLoc=${join(dir, 'jobcomp.txt')}`,
        'MailProg=/bin/true',
        'SchedulerParameters=batch_sched_delay=0',
        'ReturnToService=2',
        'MinJobAge=3600',
        'KillWait=10',
        'SelectType=select/cons_tres',
        'SelectTypeParameters=CR_CPU',
        'SlurmdParameters=config_overrides',
        `NodeName=${node} CPUs=${cpus} Boards=1 SocketsPerBoard=1 CoresPerSocket=${cpus} ThreadsPerCore=1 RealMemory=${memory} State=UNKNOWN`,
        'PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP',
        '',
      ].join('\n'),
    );
    run('slurmctld', ['-f', conf, '-c'], env);
    run('slurmd', ['-f', conf], env);
    const cmd = (name: string, args: string[]): string => execFileSync(which(name)!, args, { encoding: 'utf8', env: { ...process.env, ...env } });
    let state = '';
    for (let i = 0; i < 200 && state !== 'idle'; i++) {
      try {
        state = cmd('sinfo', ['-h', '-n', node, '-o', '%T']).trim();
      } catch {
        state = '';
      }
      if (state !== 'idle') await sleep(100);
    }
    if (state !== 'idle') throw new Error(`the test cluster's node ${node} is "${state}", not idle after 20 s; see ${dir}/slurmctld.log and slurmd.log`);
    return { dir, conf, node, env, cmd, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
