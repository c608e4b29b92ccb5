// Runs the PyTorch LoRA peer (../shared/peers/torch_lora_bench.py) in fp32 and --bf16, each with the default
// OpenMP wait policy and with OMP_WAIT_POLICY=PASSIVE, and keeps the best tokens/s per mode (the peer README says
// to quote the best of the two). Other benches import peerBest() to compute "ratio to the best PyTorch run".
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAverage, round } from './system.ts';

export type PeerMode = 'fp32' | 'bf16';
export type OmpWait = 'default' | 'PASSIVE';

/** One peer run, re-labelled for peftmake's bench output. */
export interface PeerLine {
  bench: 'peer';
  name: 'peer';
  mode: PeerMode;
  omp_wait_policy: OmpWait;
  preset: string;
  impl: string;
  tokens_per_s: number;
  achieved_gflops: number;
  matmul_peak_gflops: number;
  ratio_achieved_to_peak: number;
  peak_rss_mb: number;
  cpu_flags: string[];
  other_procs_cpu_frac: number;
  loadavg: number[];
  timed_steps: number;
  step_s_median: number;
  torch: string;
  blas: string;
  threads: number;
}

export interface PeerError {
  bench: 'peer';
  name: 'peer';
  mode: PeerMode;
  omp_wait_policy: OmpWait;
  error: string;
}

export interface PeerResult {
  /** Set when the peer could not run at all (no script, no /usr/bin/python3, no torch): the reason and the fix. */
  skipped?: string;
  runs: Array<PeerLine | PeerError>;
  /** Best tokens/s per mode over the wait policies (absent for a mode where every run failed). */
  best: Partial<Record<PeerMode, PeerLine>>;
  /** Which `npm run bench` invocation produced it (see benchRunId) and when. */
  runId: string;
  writtenAt: string;
  reused?: boolean;
}

export interface PeerOptions {
  preset?: string; // smollm2-135m (the engine bench's shape) or small (seconds; for a smoke run)
  steps?: number; // at most this many timed steps per run
  /** Stop timing new steps once this many seconds of timed steps have run (at least one timed step always runs). */
  timeBudgetS?: number;
  warmup?: number;
  modes?: PeerMode[];
  policies?: OmpWait[];
  python?: string;
  peersDir?: string;
  timeoutS?: number; // per run
  /** Called with each run's line as soon as it is known (peer.bench.ts prints them as they come). */
  onRun?: (line: PeerLine | PeerError) => void;
}

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const PEERS_DIR = resolve(REPO_ROOT, '..', 'shared', 'peers');
export const PEER_SCRIPT = 'torch_lora_bench.py';
export const PEER_PYTHON = '/usr/bin/python3';
/** Where the best figures are written for later benches in the same run (and for anyone after). */
export const PEER_BEST_FILE = join(tmpdir(), 'peftmake-peer-best.json');
export const TORCH_FIX = 'apt-get install -y python3-torch (Debian torch 1.13.1, for /usr/bin/python3)';

/** Identifies one `npm run bench`: bench/run.ts starts every bench as its child, so they share the parent pid. */
export function benchRunId(): string {
  return process.env.PEFT_BENCH_RUN_ID ?? `ppid:${process.ppid}`;
}

/** Why the peer cannot run here, or undefined when it can (script present, python runs, `import torch` works). */
export function peerUnavailable(python = PEER_PYTHON, peersDir = PEERS_DIR): string | undefined {
  const script = join(peersDir, PEER_SCRIPT);
  if (!existsSync(script)) return `peer script ${script} is absent (it lives in ../shared/peers next to the repo)`;
  if (!existsSync(python)) return `${python} is absent; ${TORCH_FIX}`;
  const r = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) {
    const why = (r.stderr || r.error?.message || '').trim().split('\n').at(-1) ?? '';
    return `import torch failed with ${python} (${why}); ${TORCH_FIX}`;
  }
  return undefined;
}

/** Picks, per mode, the run with the highest tokens/s. */
export function bestPerMode(runs: Array<PeerLine | PeerError>): Partial<Record<PeerMode, PeerLine>> {
  const best: Partial<Record<PeerMode, PeerLine>> = {};
  for (const r of runs) {
    if ('error' in r) continue;
    const cur = best[r.mode];
    if (!cur || r.tokens_per_s > cur.tokens_per_s) best[r.mode] = r;
  }
  return best;
}

/** Re-labels the peer's one JSON line. Throws when a field peftmake relies on is missing. */
export function relabel(raw: Record<string, unknown>, mode: PeerMode, policy: OmpWait): PeerLine {
  const num = (k: string): number => {
    const v = raw[k];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`peer output lacks a numeric "${k}"`);
    return v;
  };
  return {
    bench: 'peer',
    name: 'peer',
    mode,
    omp_wait_policy: policy,
    preset: String(raw.label ?? ''),
    impl: String(raw.impl ?? ''),
    tokens_per_s: round(num('tokens_per_s'), 1),
    achieved_gflops: round(num('achieved_gflops'), 1),
    matmul_peak_gflops: round(num('matmul_peak_gflops'), 1),
    ratio_achieved_to_peak: round(num('ratio_achieved_to_peak'), 3),
    peak_rss_mb: round(num('peak_rss_mb'), 1),
    cpu_flags: Array.isArray(raw.cpu_flags) ? raw.cpu_flags.map(String) : [],
    other_procs_cpu_frac: round(num('other_procs_cpu_frac'), 3),
    loadavg: Array.isArray(raw.loadavg) ? raw.loadavg.map(Number) : loadAverage(),
    timed_steps: num('timed_steps'),
    step_s_median: round(num('step_s_median'), 3),
    torch: String(raw.torch ?? ''),
    blas: String(raw.blas ?? ''),
    threads: num('threads'),
  };
}

function runOnce(o: Required<Omit<PeerOptions, 'onRun'>>, mode: PeerMode, policy: OmpWait): PeerLine | PeerError {
  const env = { ...process.env };
  if (policy === 'PASSIVE') env.OMP_WAIT_POLICY = 'PASSIVE';
  else delete env.OMP_WAIT_POLICY;
  const args = [
    join(o.peersDir, PEER_SCRIPT),
    '--preset',
    o.preset,
    '--steps',
    String(o.steps),
    '--min-steps',
    '1',
    '--time-budget',
    String(o.timeBudgetS),
    '--warmup',
    String(o.warmup),
  ];
  if (mode === 'bf16') args.push('--bf16');
  args.push('--label', o.preset);
  // the peer's progress goes to our stderr as it happens; its one JSON line comes on stdout
  const r = spawnSync(o.python, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: o.timeoutS * 1000, maxBuffer: 16 << 20 });
  const fail = (error: string): PeerError => ({ bench: 'peer', name: 'peer', mode, omp_wait_policy: policy, error });
  if (r.error) return fail(`${o.python} ${PEER_SCRIPT}: ${r.error.message}`);
  if (r.status !== 0) return fail(`${PEER_SCRIPT} exited with ${r.status ?? r.signal}`);
  const line = r.stdout
    .split('\n')
    .reverse()
    .find((l) => l.trim().startsWith('{'));
  if (!line) return fail(`${PEER_SCRIPT} printed no JSON line`);
  try {
    return relabel(JSON.parse(line) as Record<string, unknown>, mode, policy);
  } catch (e) {
    return fail((e as Error).message);
  }
}

/** Runs every mode × wait policy (fp32 and bf16; default and PASSIVE) and writes the best figures to PEER_BEST_FILE. */
export function runPeer(opts: PeerOptions = {}): PeerResult {
  const o = {
    preset: opts.preset ?? 'smollm2-135m',
    steps: opts.steps ?? 3,
    timeBudgetS: opts.timeBudgetS ?? 45,
    warmup: opts.warmup ?? 1,
    modes: opts.modes ?? (['fp32', 'bf16'] as PeerMode[]),
    policies: opts.policies ?? (['default', 'PASSIVE'] as OmpWait[]),
    python: opts.python ?? PEER_PYTHON,
    peersDir: opts.peersDir ?? PEERS_DIR,
    timeoutS: opts.timeoutS ?? 600,
  };
  const base = { runId: benchRunId(), writtenAt: new Date().toISOString() };
  const skipped = peerUnavailable(o.python, o.peersDir);
  if (skipped) return { ...base, skipped, runs: [], best: {} };
  const runs: Array<PeerLine | PeerError> = [];
  for (const mode of o.modes)
    for (const policy of o.policies) {
      const line = runOnce(o, mode, policy);
      runs.push(line);
      opts.onRun?.(line);
    }
  const result: PeerResult = { ...base, runs, best: bestPerMode(runs) };
  const tmp = `${PEER_BEST_FILE}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ ...result, preset: o.preset, steps: o.steps }, null, 2)}\n`);
  renameSync(tmp, PEER_BEST_FILE);
  return result;
}

/** The figures PEER_BEST_FILE holds when they came from this `npm run bench` (same runId) or are younger than
 * maxAgeS, for the same preset; undefined otherwise. */
export function readPeerBest(opts: { preset?: string; maxAgeS?: number } = {}): PeerResult | undefined {
  if (!existsSync(PEER_BEST_FILE)) return undefined;
  try {
    const r = JSON.parse(readFileSync(PEER_BEST_FILE, 'utf8')) as PeerResult & { preset?: string };
    if (r.preset !== (opts.preset ?? 'smollm2-135m') || r.skipped) return undefined;
    const ageS = (Date.now() - Date.parse(r.writtenAt)) / 1000;
    if (r.runId === benchRunId() || ageS <= (opts.maxAgeS ?? 0)) return { ...r, reused: true };
  } catch {
    // unreadable or from an older format: run again
  }
  return undefined;
}

/** Best PyTorch figures per mode for this run: reused from an earlier bench of the same `npm run bench`
 * (or one younger than maxAgeS), else measured now. What engine.bench.ts imports for its ratio. */
export function peerBest(opts: PeerOptions & { maxAgeS?: number } = {}): PeerResult {
  return readPeerBest(opts) ?? runPeer(opts);
}
