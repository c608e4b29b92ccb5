// `npm run bench isa`: batch-1 generation tokens/s of the SmolLM2-135M shape (random init, 16-token prompt, 64 new
// tokens, greedy, KV cache) on each kernel ISA path this CPU and build can run (PEFT_ISA per child process), NF4 and
// full precision, with the ratio to the best path in the same run. Env: BENCH_THREADS, BENCH_ISAS ("avx512,avx2,scalar").
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initModel, SMOLLM2_135M_SHAPE } from '../src/engine/init-model.ts';
import { loadModel } from '../src/engine/index.ts';
import { nativeEngine } from '../src/engine/native.ts';
import { cpuFlags, emitJson, loadAverage, round } from './lib/system.ts';

const NEW_TOKENS = 64;

async function one(dir: string): Promise<void> {
  const ne = nativeEngine();
  if (process.env.BENCH_THREADS) ne.setThreads(Number(process.env.BENCH_THREADS));
  const caps = ne.engineCaps();
  const out: Record<string, unknown> = { isa: /isa=(\S+)/.exec(caps.backend)?.[1] ?? null, threads: caps.threads };
  for (const quant of ['nf4', 'none'] as const) {
    const m = await loadModel({ dir, quant, compute: 'fp32' });
    const prompt = Array.from({ length: 16 }, (_, i) => 1 + i);
    await m.generate(prompt, { maxTokens: 4, eos: [] }); // warm-up: first touches of the weights and caches
    const t0 = performance.now();
    const gen = await m.generate(prompt, { maxTokens: NEW_TOKENS, eos: [] });
    out[quant] = round(gen.length / ((performance.now() - t0) / 1000), 2);
  }
  console.log(JSON.stringify(out));
}

async function main(): Promise<void> {
  const argIdx = process.argv.indexOf('--one');
  if (argIdx > 0) return one(process.argv[argIdx + 1]);
  const caps = nativeEngine().engineCaps().backend;
  const lists = /\(cpu: ([a-z0-9 ]+); built: ([a-z0-9 ]+)\)/.exec(caps);
  const runnable = lists ? lists[1].split(' ').filter((i) => lists[2].split(' ').includes(i)) : [];
  const isas = (process.env.BENCH_ISAS ?? 'avx512,avx2,scalar').split(',').filter((i) => runnable.includes(i));
  const dir = mkdtempSync(join(tmpdir(), 'peft-bench-isa-'));
  try {
    initModel(dir, { ...SMOLLM2_135M_SHAPE, seed: 0, tokenizer: 'none' });
    const self = fileURLToPath(import.meta.url);
    const rows: Array<{ isa: string; nf4: number; none: number; threads: number }> = [];
    for (const isa of isas) {
      const r = spawnSync(process.execPath, ['--import', 'tsx', self, '--one', dir], {
        env: { ...process.env, PEFT_ISA: isa },
        stdio: ['ignore', 'pipe', 'inherit'],
        encoding: 'utf8',
      });
      const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
      if (r.status !== 0 || !line) emitJson({ bench: 'isa-generate', isa, error: `exit ${r.status}` });
      else rows.push(JSON.parse(line));
    }
    const best = (q: 'nf4' | 'none') => Math.max(0, ...rows.map((r) => r[q]));
    for (const r of rows)
      emitJson({
        bench: 'isa-generate',
        isa: r.isa,
        model: 'SmolLM2-135M shape (random init)',
        batch: 1,
        prompt_tokens: 16,
        new_tokens: NEW_TOKENS,
        nf4_tokens_per_s: r.nf4,
        fp32_tokens_per_s: r.none,
        nf4_ratio_to_best_path: round(r.nf4 / best('nf4'), 2),
        fp32_ratio_to_best_path: round(r.none / best('none'), 2),
        threads: r.threads,
        cpu_flags: cpuFlags(),
        loadavg: loadAverage(),
      });
  } finally {
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
export { main as runIsaBench };
