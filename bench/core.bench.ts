// Core benchmark at 10x scale: a generated pipeline of 500 command stages over 100,000 input files. Prints JSON lines:
// first-build hashing of those files beside `sha256sum` over the same files in the same run, the no-op build time
// with a warm stat cache (in process, and through the CLI: `seconds` / `cli_seconds` through the no-op snapshot, the
// `planned_` fields with it turned off, every input looked up and every key computed), and the first hash of 10 GB in big files (sparse files
// with distinct headers, so the disk holds almost nothing: what is measured is reading and hashing) beside
// `sha256sum` over the same files. Goals: no-op < 1 s; hashing >= sha256sum.
// First, `core.cli_noop_build`: the no-op build of a small pipeline through the real bin (a spawned process, best of
// BENCH_CORE_CLI_RUNS), beside `node -e 0` measured in the same run: what start-up costs on top of bare Node.
// Sizes can be reduced for a quick run: BENCH_CORE_FILES, BENCH_CORE_MB, BENCH_CORE_STAGES, BENCH_CORE_BIG_GB (0: skip).
import { spawnSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdtempSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { build } from '../src/exec/build.ts';
import { loadPipeline } from '../src/config/load.ts';
import { TOOLCHAIN } from '../src/cli/toolchain.ts';
import { planBuild } from '../src/plan/plan.ts';
import { HashCache } from '../src/hash/hash-cache.ts';
import { StoreLayout } from '../src/store/layout.ts';
import { snapshotCounts } from '../src/exec/noop-snapshot.ts';
import { loadAverage } from './lib/system.ts';

const FILES = Number(process.env.BENCH_CORE_FILES ?? 100_000);
const TOTAL_MB = Number(process.env.BENCH_CORE_MB ?? 400);
const STAGES = Number(process.env.BENCH_CORE_STAGES ?? 500);
const BIG_GB = Number(process.env.BENCH_CORE_BIG_GB ?? 10);
const BIG_FILE_MB = 512;
const CLI = resolve(import.meta.dirname, '..', 'bin', 'peftmake.js');
const CLI_RUNS = Number(process.env.BENCH_CORE_CLI_RUNS ?? 7);
/** Preloaded into a CLI run: prints the process's CPU time (all threads) to stderr at exit. */
const CPU_AT_EXIT = `data:text/javascript,${encodeURIComponent("process.on('exit',()=>process.stderr.write('\\nCPU '+JSON.stringify(process.cpuUsage())+'\\n'))")}`;

const emit = (o: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};
const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d;

/** Seconds of each of `runs` runs of `node args` in `cwd`; throws on a non-zero exit, or when a no-op build built anything. */
function timeRuns(runs: number, args: string[], cwd: string, expectNoop = false): number[] {
  const seconds: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const r = spawnSync(process.execPath, args, { cwd, encoding: 'utf8' });
    seconds.push((performance.now() - t) / 1000);
    if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited with ${r.status ?? r.signal}: ${r.stderr}`);
    if (expectNoop && !(JSON.parse(r.stdout) as { stages: { action: string }[] }).stages.every((s) => s.action === 'fresh'))
      throw new Error('CLI no-op build was not a no-op');
  }
  return seconds;
}

// The CLI no-op build of a small pipeline (6 command stages over 20 files): almost all of it is process start-up.
const small = mkdtempSync(join(tmpdir(), 'peftmake-bench-cli-'));
try {
  const stages: Record<string, unknown> = {};
  for (let s = 0; s < 5; s++) {
    mkdirSync(join(small, 'data', `s${s}`), { recursive: true });
    for (let f = 0; f < 4; f++) writeFileSync(join(small, 'data', `s${s}`, `f${f}.txt`), `stage ${s} file ${f}\n`);
    stages[`s${s}`] = { cmd: `mkdir -p out && cat data/s${s}/* > out/s${s}.txt`, deps: [`data/s${s}`], outs: [`out/s${s}.txt`] };
  }
  stages.total = { cmd: 'cat out/s*.txt > total.txt', deps: Array.from({ length: 5 }, (_, s) => `out/s${s}.txt`), outs: ['total.txt'] };
  writeFileSync(join(small, 'pipeline.json'), JSON.stringify({ stages }, null, 2));
  timeRuns(1, [CLI, 'build', '--json'], small); // the first build (and a warm transform cache)
  const cli = timeRuns(CLI_RUNS, [CLI, 'build', '--json'], small, true);
  const node = timeRuns(CLI_RUNS, ['-e', '0'], small);
  emit({
    bench: 'core.cli_noop_build',
    stages: Object.keys(stages).length,
    runs: CLI_RUNS,
    cli_seconds: round(Math.min(...cli)),
    cli_seconds_all: cli.map((x) => round(x)),
    node_startup_seconds: round(Math.min(...node)),
    cli_over_node_seconds: round(Math.min(...cli) - Math.min(...node)),
    loadavg: loadAverage(),
    goal_seconds: 0.5,
  });
} finally {
  rmSync(small, { recursive: true, force: true });
}

const dir = mkdtempSync(join(tmpdir(), 'peftmake-bench-core-'));
try {
  // Generate the inputs: FILES files spread over STAGES folders, distinct content, TOTAL_MB in all.
  const fileBytes = Math.floor((TOTAL_MB * 1024 * 1024) / FILES);
  const block = Buffer.alloc(fileBytes);
  for (let i = 0; i < fileBytes; i++) block[i] = (i * 2654435761) >>> 24;
  const perStage = Math.ceil(FILES / STAGES);
  let bytes = 0;
  for (let i = 0; i < FILES; i++) {
    const s = Math.floor(i / perStage);
    const d = join(dir, 'data', `s${s}`);
    if (i % perStage === 0) mkdirSync(d, { recursive: true });
    block.writeUInt32LE(i, 0);
    writeFileSync(join(d, `f${i}.bin`), block);
    bytes += fileBytes;
  }
  const stages: Record<string, unknown> = {};
  for (let s = 0; s < STAGES; s++) {
    stages[`s${s}`] = { cmd: `mkdir -p out && ls data/s${s} | wc -l > out/s${s}.txt`, deps: [`data/s${s}`], outs: [`out/s${s}.txt`] };
  }
  stages.total = { cmd: 'cat out/s*.txt | paste -sd+ | bc > total.txt', deps: Array.from({ length: STAGES }, (_, s) => `out/s${s}.txt`), outs: ['total.txt'] };
  writeFileSync(join(dir, 'pipeline.json'), JSON.stringify({ stages }, null, 2));

  // Both hashers read the same files from a warm page cache: one read pass first, then each timed in turn.
  await execa({ cwd: dir, shell: true })`find data -type f -print0 | xargs -0 cat > /dev/null`;
  // Our first-build hashing: planning with an empty hash cache hashes every input.
  const pipeline = loadPipeline(join(dir, 'pipeline.json'), { kinds: TOOLCHAIN.kinds });
  const layout = new StoreLayout(dir);
  let t = performance.now();
  await planBuild(pipeline, layout, new HashCache(), { engineVersion: TOOLCHAIN.engineVersion });
  const hashSeconds = (performance.now() - t) / 1000;
  t = performance.now();
  await execa({ cwd: dir, shell: true })`find data -type f -print0 | xargs -0 -n 2000 sha256sum > /dev/null`;
  const shaSeconds = (performance.now() - t) / 1000;
  emit({
    bench: 'core.hash_first_build',
    files: FILES,
    mb: round(bytes / 1048576, 1),
    seconds: round(hashSeconds),
    mb_per_s: round(bytes / 1048576 / hashSeconds, 1),
    sha256sum_seconds: round(shaSeconds),
    sha256sum_mb_per_s: round(bytes / 1048576 / shaSeconds, 1),
    ratio_vs_sha256sum: round(shaSeconds / hashSeconds, 2),
    loadavg: loadAverage(),
    goal: 'ratio >= 1',
  });

  t = performance.now();
  const first = await build({ toolchain: TOOLCHAIN, pipeline, jobs: 2 });
  emit({ bench: 'core.first_build', stages: first.stages.length, ok: first.ok, seconds: round((performance.now() - t) / 1000) });

  // Past the racy window: what the first build wrote may now be cached (hash cache) and recorded (no-op snapshot).
  await new Promise((r) => setTimeout(r, 2100));
  const noSnapshot = async <T>(f: () => Promise<T>): Promise<T> => {
    process.env.PEFTMAKE_NO_SNAPSHOT = '1';
    try {
      return await f();
    } finally {
      delete process.env.PEFTMAKE_NO_SNAPSHOT;
    }
  };
  // Wall seconds, and this process's CPU seconds (all threads): the CPU time holds on a machine others share.
  const cpuTime = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  const noopRun = async (): Promise<{ wall: number; cpu: number }> => {
    const t0 = performance.now();
    const c0 = cpuTime();
    const r = await build({ toolchain: TOOLCHAIN, file: join(dir, 'pipeline.json') });
    if (!r.stages.every((s) => s.action === 'fresh')) throw new Error('no-op build was not a no-op');
    return { wall: (performance.now() - t0) / 1000, cpu: cpuTime() - c0 };
  };
  // No-op builds in process: planned (every input stat'ed and looked up in the hash cache, every key computed: what
  // a build does when its snapshot does not hold), then through the no-op snapshot (one run saves it, the next replay it).
  const planned: { wall: number; cpu: number }[] = [];
  for (let i = 0; i < 3; i++) planned.push(await noSnapshot(noopRun));
  const saving = await noopRun();
  const replayedBefore = snapshotCounts.replayed;
  const noop: { wall: number; cpu: number }[] = [];
  for (let i = 0; i < 5; i++) noop.push(await noopRun());
  if (snapshotCounts.replayed !== replayedBefore + 5) throw new Error('the no-op snapshot was not replayed');
  // Through the CLI as users run it, 3 times: wall seconds and the process's own CPU seconds (user + system, all
  // threads, printed at exit by a preloaded one-liner): CPU time holds on a machine other work shares, wall does not.
  const cliNoop = async (runs: number, env: Record<string, string> = {}): Promise<{ wall: number; cpu: number }[]> => {
    const out: { wall: number; cpu: number }[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const r = await execa('node', ['--import', CPU_AT_EXIT, CLI, 'build', '--json'], { cwd: dir, env });
      const wall = (performance.now() - t0) / 1000;
      const m = /CPU (\{[^\n]*\})/.exec(r.stderr);
      const u = m ? (JSON.parse(m[1]) as { user: number; system: number }) : { user: NaN, system: NaN };
      out.push({ wall, cpu: (u.user + u.system) / 1e6 });
      if (!(JSON.parse(r.stdout) as { stages: { action: string }[] }).stages.every((x) => x.action === 'fresh'))
        throw new Error('CLI no-op build was not a no-op');
    }
    return out;
  };
  const cliRuns = await cliNoop(3);
  const cli = Math.min(...cliRuns.map((x) => x.wall));
  const cliPlanned = await cliNoop(2, { PEFTMAKE_NO_SNAPSHOT: '1' }); // drops the snapshot: last
  t = performance.now();
  await execa('node', [CLI, '--help'], { cwd: dir });
  const startup = (performance.now() - t) / 1000;
  const nodeAlone = timeRuns(3, ['-e', '0'], dir);
  emit({
    bench: 'core.noop_build',
    stages: first.stages.length,
    files: FILES,
    seconds: round(Math.min(...noop.map((x) => x.wall))),
    seconds_all: noop.map((x) => round(x.wall)),
    cpu_seconds: round(Math.min(...noop.map((x) => x.cpu))),
    snapshot_saving_seconds: round(saving.wall),
    planned_seconds: round(Math.min(...planned.map((x) => x.wall))),
    planned_seconds_all: planned.map((x) => round(x.wall)),
    planned_cpu_seconds: round(Math.min(...planned.map((x) => x.cpu))),
    cli_seconds: round(cli),
    cli_cpu_seconds: round(Math.min(...cliRuns.map((x) => x.cpu))),
    cli_cpu_seconds_all: cliRuns.map((x) => round(x.cpu)),
    cli_planned_seconds: round(Math.min(...cliPlanned.map((x) => x.wall))),
    cli_planned_cpu_seconds: round(Math.min(...cliPlanned.map((x) => x.cpu))),
    cli_startup_seconds: round(startup),
    node_startup_seconds: round(Math.min(...nodeAlone)),
    loadavg: loadAverage(),
    goal_seconds: 1,
  });

  // One input file changed: its stage and the one downstream rebuilt; the other 499 stages keep their snapshot plan
  // (their paths unchanged), against planning everything (snapshot off) for a second change.
  await noopRun(); // saves the snapshot again (the CLI runs without it dropped it)
  const change = async (i: number): Promise<{ seconds: number; cpu: number; reused: number }> => {
    const f = join(dir, 'data', 's0', `f${i}.bin`);
    writeFileSync(f, Buffer.concat([Buffer.from(`changed ${Date.now()}`), Buffer.alloc(64)]));
    const reused = snapshotCounts.reused;
    const t0 = performance.now();
    const c0 = cpuTime();
    const r = await build({ toolchain: TOOLCHAIN, file: join(dir, 'pipeline.json') });
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuTime() - c0; // this process only: the two stages' commands run in child processes
    const built = r.stages.filter((s) => s.action !== 'fresh').map((s) => s.name);
    if (built.join() !== 'stages.s0,stages.total') throw new Error(`one change rebuilt ${built.join(', ')}`);
    return { seconds, cpu, reused: snapshotCounts.reused - reused };
  };
  const withSnapshot = await change(0);
  await new Promise((r) => setTimeout(r, 2100));
  await noopRun(); // settled again: the snapshot records every stage
  const withoutSnapshot = await noSnapshot(() => change(1));
  emit({
    bench: 'core.one_change_build',
    stages: first.stages.length,
    files: FILES,
    rebuilt: 2,
    seconds: round(withSnapshot.seconds),
    cpu_seconds: round(withSnapshot.cpu),
    reused_stages: withSnapshot.reused,
    planned_seconds: round(withoutSnapshot.seconds),
    planned_cpu_seconds: round(withoutSnapshot.cpu),
    loadavg: loadAverage(),
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}

// The first hash of BIG_GB in 512 MiB files: sparse (a distinct 4 KiB header, the rest a hole), so reading costs no
// disk I/O and what is timed is the hashing, on every core the hasher uses, beside sha256sum (one process, then one
// per core) over the same files.
if (BIG_GB > 0) {
  const big = mkdtempSync(join(tmpdir(), 'peftmake-bench-big-'));
  try {
    const count = Math.max(1, Math.round((BIG_GB * 1024) / BIG_FILE_MB));
    mkdirSync(join(big, 'big'));
    for (let i = 0; i < count; i++) {
      const fd = openSync(join(big, 'big', `part${String(i).padStart(3, '0')}.bin`), 'w');
      writeSync(fd, Buffer.from(`big file ${i}\n`.repeat(256)));
      ftruncateSync(fd, BIG_FILE_MB * 1024 * 1024);
      closeSync(fd);
    }
    writeFileSync(join(big, 'pipeline.json'), JSON.stringify({ stages: { big: { cmd: 'true', deps: ['big'] } } }));
    const pipeline = loadPipeline(join(big, 'pipeline.json'), { kinds: TOOLCHAIN.kinds });
    let t = performance.now();
    await planBuild(pipeline, new StoreLayout(big), new HashCache(), { engineVersion: TOOLCHAIN.engineVersion });
    const seconds = (performance.now() - t) / 1000;
    t = performance.now();
    await execa({ cwd: big, shell: true })`sha256sum big/* > /dev/null`;
    const sha1 = (performance.now() - t) / 1000;
    t = performance.now();
    await execa({ cwd: big, shell: true })`ls big/* | xargs -P ${String(cpus().length)} -n 1 sha256sum > /dev/null`;
    const shaN = (performance.now() - t) / 1000;
    const mb = count * BIG_FILE_MB;
    emit({
      bench: 'core.hash_big_first',
      files: count,
      gb: round(mb / 1024, 2),
      seconds: round(seconds),
      mb_per_s: round(mb / seconds, 1),
      sha256sum_seconds: round(sha1),
      sha256sum_parallel_seconds: round(shaN),
      ratio_vs_sha256sum: round(sha1 / seconds, 2),
      ratio_vs_parallel_sha256sum: round(shaN / seconds, 2),
      cpus: cpus().length,
      sparse: true,
      loadavg: loadAverage(),
      goal: 'ratio >= 1',
    });
  } finally {
    rmSync(big, { recursive: true, force: true });
  }
}
