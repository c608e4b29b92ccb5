// Deployment benchmark (JSON lines): generation on a random-init model of SmolLM2-135M's shape, batch 1, 128 new
// tokens after an 8-token prompt, greedy, the same threads for every runtime, each in its own process (its own peak
// RSS): the engine (NF4 and unquantized, compute auto = bf16 where native), onnxruntime-node on the ONNX export
// (fp32, fp16) and llama.cpp through node-llama-cpp on the GGUF export (F16, Q4_0). Then the ratios the issue sets
// as goals: engine NF4 vs llama.cpp Q4_0, engine bf16 vs llama.cpp F16, engine vs the best onnxruntime run.
// Run: `npm run bench deploy`. Env: BENCH_THREADS (default: all cores), BENCH_NEW_TOKENS (128), BENCH_RUNTIMES.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initModel, SMOLLM2_135M_SHAPE } from '../src/engine/init-model.ts';
import { readFileSync } from 'node:fs';
import { cpuFlags, emitJson, loadAverage, otherProcsCpuWindow, peakRssMb, round } from './lib/system.ts';

/** This process image's own peak RSS (VmHWM): getrusage's maxrss carries the parent's peak across fork + exec. */
function ownPeakRssMb(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? round(Number(m[1]) / 1024, 1) : peakRssMb();
}

const THREADS = Number(process.env.BENCH_THREADS ?? availableParallelism());
const NEW = Number(process.env.BENCH_NEW_TOKENS ?? 128);
const PROMPT = [1, 504, 1211, 88, 3011, 77, 912, 40];
const RUNTIMES = (process.env.BENCH_RUNTIMES ?? 'engine:nf4,engine:none,ort:fp32,ort:fp16,llama.cpp:F16,llama.cpp:Q4_0').split(',');

/** Times `gen` (after one short warm-up) and prints the line. */
async function timed(runtime: string, precision: string, warm: () => Promise<unknown>, gen: () => Promise<number[]>): Promise<void> {
  await warm();
  const other = otherProcsCpuWindow();
  const t0 = performance.now();
  const ids = await gen();
  const secs = (performance.now() - t0) / 1000;
  if (ids.length !== NEW) throw new Error(`${runtime} ${precision}: generated ${ids.length} tokens, expected ${NEW}`);
  emitJson({
    bench: 'deploy',
    runtime,
    precision,
    threads: THREADS,
    new_tokens: ids.length,
    seconds: round(secs, 3),
    tokens_per_s: round(ids.length / secs, 1),
    peak_rss_mb: ownPeakRssMb(),
    other_procs_cpu_frac: other(),
    cpu_flags: cpuFlags(),
    loadavg: loadAverage(),
  });
}

async function one(runtime: string, precision: string, dir: string): Promise<void> {
  if (runtime === 'engine') {
    const { loadModel } = await import('../src/engine/index.ts');
    const { nativeEngine } = await import('../src/engine/native.ts');
    nativeEngine().setThreads(THREADS);
    const m = await loadModel({ dir: join(dir, 'hf'), quant: precision as 'nf4' | 'none', compute: 'auto' });
    const label = `${precision === 'nf4' ? 'nf4' : 'unquantized'}+${m.info.compute ?? 'auto'}`;
    return timed(
      'engine',
      label,
      () => m.generate(PROMPT, { maxTokens: 8, temperature: 0, eos: [] }),
      () => m.generate(PROMPT, { maxTokens: NEW, temperature: 0, eos: [] }),
    );
  }
  if (runtime === 'ort') {
    const { loadOnnxDecoder, onnxGreedy } = await import('../src/onnx/onnx-session.ts');
    const d = await loadOnnxDecoder(join(dir, `onnx-${precision}`), { threads: THREADS });
    return timed(
      'onnxruntime-node',
      precision,
      () => onnxGreedy(d, PROMPT, 8, []),
      () => onnxGreedy(d, PROMPT, NEW, []),
    );
  }
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false });
  const model = await llama.loadModel({ modelPath: join(dir, `${precision}.gguf`), gpuLayers: 0 });
  const ctx = await model.createContext({ contextSize: 512, threads: THREADS, batchSize: 512 });
  const run = async (n: number) => {
    const seq = ctx.getSequence();
    const out: number[] = [];
    for await (const t of seq.evaluate(PROMPT as never[], { temperature: 0 })) {
      out.push(t as unknown as number);
      if (out.length >= n) break;
    }
    seq.dispose();
    return out;
  };
  return timed(
    'llama.cpp',
    precision,
    () => run(8),
    () => run(NEW),
  );
}

async function prepare(dir: string): Promise<void> {
  const hf = join(dir, 'hf');
  initModel(hf, { ...SMOLLM2_135M_SHAPE, seed: 0 });
  const { readBaseWeights } = await import('../stages/shared/base-weights.ts');
  const { llamaHparams } = await import('../stages/export/llama-hparams.ts');
  const { writeModelGguf } = await import('../stages/export/gguf-export.ts');
  const { ggufVocab } = await import('../stages/export/gguf/gguf-vocab.ts');
  const { buildLlamaDecoder, OPSET } = await import('../stages/export/onnx/onnx-llama.ts');
  const config = JSON.parse(readFileSync(join(hf, 'config.json'), 'utf8'));
  const h = llamaHparams(config, join(hf, 'config.json'));
  const tensors = readBaseWeights(hf).tensors;
  const vocab = ggufVocab(hf, config, h.vocab);
  for (const t of ['F16', 'Q4_0']) if (RUNTIMES.includes(`llama.cpp:${t}`)) writeModelGguf(join(dir, `${t}.gguf`), 'bench', h, vocab, tensors, t);
  for (const p of ['fp32', 'fp16'] as const) {
    if (!RUNTIMES.includes(`ort:${p}`)) continue;
    const out = join(dir, `onnx-${p}`);
    mkdirSync(join(out, 'onnx'), { recursive: true });
    writeFileSync(join(out, 'config.json'), JSON.stringify(config));
    writeFileSync(
      join(out, 'onnx', p === 'fp16' ? 'model_fp16.onnx' : 'model.onnx'),
      buildLlamaDecoder(h, tensors, p === 'fp16' ? 'float16' : 'float32').encode({ producer: 'bench', version: '0', doc: '', props: {} }, OPSET),
    );
  }
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--one');
  if (i > 0) return one(process.argv[i + 1], process.argv[i + 2], process.argv[i + 3]);
  const dir = mkdtempSync(join(tmpdir(), 'peft-bench-deploy-'));
  try {
    await prepare(dir);
    const self = fileURLToPath(import.meta.url);
    const lines: Record<string, unknown>[] = [];
    for (const rt of RUNTIMES) {
      const [runtime, precision] = rt.split(':');
      const r = spawnSync(process.execPath, ['--import', 'tsx', self, '--one', runtime, precision, dir], {
        stdio: ['ignore', 'pipe', 'inherit'],
        encoding: 'utf8',
      });
      const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
      if (r.status !== 0 || !line) emitJson({ bench: 'deploy', runtime, precision, error: `exit ${r.status}` });
      else {
        process.stdout.write(`${line}\n`);
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
    }
    const tps = (runtime: string, p: RegExp) => lines.find((l) => l.runtime === runtime && p.test(String(l.precision)))?.tokens_per_s as number | undefined;
    const ratio = (a?: number, b?: number) => (a && b ? round(a / b, 2) : null);
    const engNf4 = tps('engine', /^nf4/),
      engFull = tps('engine', /^unquantized/);
    const ortBest = Math.max(tps('onnxruntime-node', /fp32/) ?? 0, tps('onnxruntime-node', /fp16/) ?? 0) || undefined;
    emitJson({
      bench: 'deploy-ratios',
      engine_nf4_over_llamacpp_q4_0: ratio(engNf4, tps('llama.cpp', /Q4_0/)),
      engine_unquantized_over_llamacpp_f16: ratio(engFull, tps('llama.cpp', /F16/)),
      engine_best_over_best_onnxruntime: ratio(Math.max(engNf4 ?? 0, engFull ?? 0) || undefined, ortBest),
      threads: THREADS,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
