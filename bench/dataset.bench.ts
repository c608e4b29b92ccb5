// Dataset preprocessing benchmark (JSON lines): MB/s of input for wikitext-2 valid + test as a `text` dataset with
// cleaning, PII redaction, exact dedup, tokenization with the stories260K tokenizer, packing and writing the JSONL
// files — everything the stage does. Each run loads a fresh tokenizer (cold word cache). Goal: >= 20 MB/s.
// Then `dataset.big`: a 200 MB+ corpus (wikitext-2 valid + test repeated, each copy's lines marked with its number so
// dedup keeps them) prepared on one thread and on the pool (one thread per core: this one and the workers), each in its own process
// (peak RSS its own), the outputs' sha256 compared. Goal: >= 40 MB/s on two cores.
// Run: `npx tsx bench/dataset.bench.ts` (BENCH_RUNS, default 5; BENCH_DATASET_BIG_MB, default 200, 0 skips).
// Skips with a JSON line when the fixtures are absent.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveDatasetConfig } from '../stages/dataset/config.ts';
import { buildDataset } from '../stages/dataset/build-dataset.ts';
import { loadModelTokenizer } from '../src/hf/index.ts';

const FIXTURES = resolve(process.env.FIXTURES ?? '../shared/fixtures');
const WIKI = join(FIXTURES, 'wikitext-2-raw-v1');
const TOKENIZER = join(FIXTURES, 'stories260K/hf');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const GOAL = 20;

function line(o: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(o) + '\n');
}

const BIG_MB = Number(process.env.BENCH_DATASET_BIG_MB ?? 200);

/** Child: one preparation of `file` with `workers` threads; prints seconds, MB/s, peak RSS and the outputs' sha256. */
async function bigChild(file: string, workers: number): Promise<void> {
  const config = resolveDatasetConfig({
    model: 'base',
    format: 'text',
    source: { files: [file], documents: 'paragraph' },
    clean: { pii: 'redact', dedup: 'exact' },
    split: { valid: 0.1, seed: 0 },
  });
  const out = mkdtempSync(join(tmpdir(), 'peftmake-bench-dsbig-'));
  try {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const p = await buildDataset(out, config, { name: 'datasets.big', projectDir: process.cwd(), tokenizer: loadModelTokenizer(TOKENIZER), workers });
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const peak = process.resourceUsage().maxRSS / 1024; // before hashing the outputs
    const h = createHash('sha256');
    const block = Buffer.allocUnsafe(1 << 20);
    for (const f of readdirSync(out).sort()) {
      h.update(f);
      const fd = openSync(join(out, f), 'r');
      for (let n = readSync(fd, block); n > 0; n = readSync(fd, block)) h.update(block.subarray(0, n));
      closeSync(fd);
    }
    line({
      seconds,
      mb: p.bytesIn / 1e6,
      cpu_s: (cpu.user + cpu.system) / 1e6,
      tokens: p.stats.output.trainTokens + p.stats.output.validTokens,
      peak_rss_mb: peak,
      streamed: p.streamed,
      sha256: h.digest('hex'),
    });
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

function bigRun(file: string, workers: number): Record<string, number | string> {
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--big', file, String(workers)], { encoding: 'utf8' });
  const out = r.stdout.split('\n').find((l) => l.startsWith('{'));
  if (r.status !== 0 || !out) throw new Error(`dataset.big with ${workers} worker(s) failed: ${r.stderr.slice(-2000)}`);
  return JSON.parse(out) as Record<string, number | string>;
}

if (process.argv[2] === '--big') await bigChild(process.argv[3], Number(process.argv[4]));
else if (!existsSync(join(WIKI, 'wiki.valid.raw')) || !existsSync(join(TOKENIZER, 'tokenizer.json'))) {
  line({ bench: 'dataset.preprocess', skipped: `fixtures not found under ${FIXTURES}` });
} else {
  const config = resolveDatasetConfig({
    model: 'base',
    format: 'text',
    source: { files: [join(WIKI, 'wiki.valid.raw'), join(WIKI, 'wiki.test.raw')], documents: 'paragraph' },
    clean: { pii: 'redact', dedup: 'exact' },
    split: { valid: 0.1, seed: 0 },
  });
  const rates: number[] = [];
  const cpuRates: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const out = mkdtempSync(join(tmpdir(), 'peftmake-bench-ds-'));
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const tokenizer = loadModelTokenizer(TOKENIZER);
    const tLoaded = performance.now();
    const p = await buildDataset(out, config, { name: 'datasets.bench', projectDir: process.cwd(), tokenizer });
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    rmSync(out, { recursive: true, force: true });
    const mb = p.bytesIn / 1e6;
    rates.push(mb / seconds);
    cpuRates.push(mb / cpuSeconds);
    line({
      bench: 'dataset.preprocess',
      run,
      input_mb: Number(mb.toFixed(3)),
      seconds: Number(seconds.toFixed(3)),
      tokenizer_load_s: Number(((tLoaded - t0) / 1000).toFixed(3)),
      mb_per_s: Number((mb / seconds).toFixed(2)),
      cpu_s: Number(cpuSeconds.toFixed(3)),
      mb_per_cpu_s: Number((mb / cpuSeconds).toFixed(2)), // independent of other load on the machine (GC threads count too)
      load_avg_1m: Number(loadavg()[0].toFixed(2)),
      documents: p.stats.lengths.train.count + p.stats.lengths.valid.count,
      tokens: p.stats.output.trainTokens + p.stats.output.validTokens,
      sequences: p.stats.output.train + p.stats.output.valid,
      pii_found: Object.values(p.stats.pii.byType).reduce((a, b) => a + b, 0),
    });
  }
  const sorted = [...rates].sort((a, b) => a - b);
  const cpuSorted = [...cpuRates].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  line({
    bench: 'dataset.preprocess.summary',
    runs: RUNS,
    median_mb_per_s: Number(median.toFixed(2)),
    best_mb_per_s: Number(sorted[sorted.length - 1].toFixed(2)),
    median_mb_per_cpu_s: Number(cpuSorted[Math.floor(cpuSorted.length / 2)].toFixed(2)),
    best_mb_per_cpu_s: Number(cpuSorted[cpuSorted.length - 1].toFixed(2)),
    load_avg_1m: Number(loadavg()[0].toFixed(2)),
    cpus: cpus().length,
    goal_mb_per_s: GOAL,
    meets_goal: median >= GOAL,
  });
}

if (process.argv[2] !== '--big' && BIG_MB > 0 && existsSync(join(WIKI, 'wiki.valid.raw')) && existsSync(join(TOKENIZER, 'tokenizer.json'))) {
  const dir = mkdtempSync(join(tmpdir(), 'peftmake-bench-dscorpus-'));
  try {
    const lines = (readFileSync(join(WIKI, 'wiki.valid.raw'), 'utf8') + readFileSync(join(WIKI, 'wiki.test.raw'), 'utf8')).split('\n');
    const file = join(dir, 'corpus.txt');
    const fd = openSync(file, 'w');
    for (let k = 0, bytes = 0; bytes < BIG_MB * 1e6; k++) bytes += writeSync(fd, lines.map((l) => (l.trim() ? `[${k}] ${l}` : l)).join('\n'));
    closeSync(fd);
    const workers = availableParallelism();
    const one = bigRun(file, 1);
    const many = bigRun(file, workers);
    const rate = (r: Record<string, number | string>): number => Number(r.mb) / Number(r.seconds);
    for (const [w, r] of [
      [1, one],
      [workers, many],
    ] as const)
      line({
        bench: 'dataset.big',
        workers: w,
        input_mb: Number(Number(r.mb).toFixed(1)),
        seconds: Number(Number(r.seconds).toFixed(2)),
        mb_per_s: Number(rate(r).toFixed(2)),
        cpu_s: Number(Number(r.cpu_s).toFixed(2)),
        // MB per CPU-second of the whole process (every thread): holds on a shared machine where wall time does not
        mb_per_cpu_s: Number((Number(r.mb) / Number(r.cpu_s)).toFixed(2)),
        tokens: r.tokens,
        peak_rss_mb: Math.round(Number(r.peak_rss_mb)),
        load_avg_1m: Number(loadavg()[0].toFixed(2)),
      });
    line({
      bench: 'dataset.big.summary',
      cpus: workers,
      speedup: Number((rate(many) / rate(one)).toFixed(2)),
      identical_output: one.sha256 === many.sha256,
      mb_per_s: Number(rate(many).toFixed(2)),
      goal_mb_per_s: 40,
      meets_goal: rate(many) >= 40,
      load_avg_1m: Number(loadavg()[0].toFixed(2)),
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
