// Dataset preprocessing benchmark (JSON lines): MB/s of input for wikitext-2 valid + test as a `text` dataset with
// cleaning, PII redaction, exact dedup, tokenization with the stories260K tokenizer, packing and writing the JSONL
// files — everything the stage does. Each run loads a fresh tokenizer (cold word cache). Goal: >= 20 MB/s.
// Run: `npx tsx bench/dataset.bench.ts` (BENCH_RUNS, default 5). Skips with a JSON line when the fixtures are absent.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { resolveDatasetConfig } from '../stages/dataset/config.ts';
import { prepareDataset } from '../stages/dataset/prepare.ts';
import { writeDataset } from '../stages/dataset/write.ts';
import { loadModelTokenizer } from '../src/hf/index.ts';

const FIXTURES = resolve(process.env.FIXTURES ?? '../shared/fixtures');
const WIKI = join(FIXTURES, 'wikitext-2-raw-v1');
const TOKENIZER = join(FIXTURES, 'stories260K/hf');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const GOAL = 20;

function line(o: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(o) + '\n');
}

if (!existsSync(join(WIKI, 'wiki.valid.raw')) || !existsSync(join(TOKENIZER, 'tokenizer.json'))) {
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
    const p = await prepareDataset(config, { name: 'datasets.bench', projectDir: process.cwd(), tokenizer });
    await writeDataset(out, p);
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
