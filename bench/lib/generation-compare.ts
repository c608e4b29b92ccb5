// Generation tokens/s, batch 1, of the engine beside other runtimes on the same random-init model of SmolLM2-135M's
// shape (greedy, an 8-token prompt, the same threads for all): the engine (nf4: NF4 weights, bf16 compute; bf16:
// bf16 weights; fp32: full precision), llama.cpp through node-llama-cpp on the GGUF export (F16, Q4_0) and
// onnxruntime-node on the ONNX export (fp32, fp16). Each runtime lives in its own process (this file, run with
// --child), loaded once; the runs are interleaved in rounds (each visits every runtime, the compared pairs next to
// each other, the order rotated) so a change in the machine's load falls on all alike; each line gives the median of
// its rounds. A run is marked invalid, with its reasons and no wall-clock ratio, when other processes held more than
// maxOther of the CPUs or a runtime's rounds spread by more than 1.5x (llama.cpp's threads spin-wait on each other,
// so on a shared machine its time collapses by 10-100x). Single-threaded, the ratios of tokens per second of each
// process's own CPU time are printed too. Used by deploy.bench.ts and engine.bench.ts.
// llama.cpp's CPU kernels: node-llama-cpp's prebuilt binaries hold one ggml CPU backend per CPU class
// (libggml-cpu-<class>.so) and load the best the CPU runs; LLAMA_CPU_VARIANT=<class> (e.g. haswell: AVX2 + FMA + F16C,
// no AVX-512) makes the llama.cpp process load that one instead (forceLlamaCpuVariant); with PEFT_ISA=avx2 it defaults
// to haswell, so both sides run their AVX2 kernels. Each llama.cpp line names the variant mapped into its process.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { register } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { initModel, SMOLLM2_135M_SHAPE } from '../../src/engine/init-model.ts';
import { cpuFlags, emitJson, loadAverage, otherProcsCpuWindow, round } from './system.ts';

const PROMPT = [1, 504, 1211, 88, 3011, 77, 912, 40];
const MAX_SPREAD = 1.5;

export interface CompareOptions {
  bench: string; // the `bench` field of the lines
  runtimes: string[]; // runtime:precision, compared pairs next to each other
  pairs: [name: string, a: string, b: string][]; // ratio name, numerator, denominator ('best-engine' / 'best-ort')
  threads: number;
  newTokens: number;
  rounds: number;
  maxOther: number;
  goal: string;
}

/** This process image's own peak and current RSS (VmHWM, VmRSS): getrusage's maxrss carries the parent's peak
 * across fork + exec. */
function rssMb(): { peak: number; now: number } {
  const s = readFileSync('/proc/self/status', 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? Number.NaN);
  return { peak: round(kb('VmHWM') / 1024, 1), now: round(kb('VmRSS') / 1024, 1) };
}

/** The llama.cpp CPU backend class to force (LLAMA_CPU_VARIANT, or haswell under PEFT_ISA=avx2), or undefined. */
export function llamaCpuVariant(): string | undefined {
  return process.env.LLAMA_CPU_VARIANT || (process.env.PEFT_ISA === 'avx2' ? 'haswell' : undefined);
}

/** Makes this process's node-llama-cpp load only the ggml CPU backend `variant`: a copy of its prebuilt linux-x64
 * binaries package under `dir` without the other libggml-cpu-*.so (ggml loads the best-scoring file of the addon's
 * directory, and node-llama-cpp has no option to pick one), and a module resolve hook sending the package's name
 * to the copy. */
async function forceLlamaCpuVariant(variant: string, dir: string): Promise<void> {
  const pkg = '@node-llama-cpp/linux-x64';
  const { getBinsDir } = (await import(pkg)) as { getBinsDir: () => { binsDir: string } };
  const root = join(getBinsDir().binsDir, '..');
  const want = `libggml-cpu-${variant}.so`;
  if (!existsSync(join(root, 'bins', 'linux-x64', want)))
    throw new Error(`LLAMA_CPU_VARIANT=${variant}: no ${want} in ${join(root, 'bins', 'linux-x64')} (the variants are its libggml-cpu-<class>.so files)`);
  const copy = mkdtempSync(join(dir, `llama-${variant}-`));
  cpSync(root, copy, { recursive: true, filter: (src) => !/^libggml-cpu-.*\.so$/.test(basename(src)) || basename(src) === want });
  const url = pathToFileURL(join(copy, 'dist', 'index.js')).href;
  const hook = `export async function resolve(s, c, next) { return s === ${JSON.stringify(pkg)} ? { url: ${JSON.stringify(url)}, shortCircuit: true } : next(s, c); }`;
  register(`data:text/javascript,${encodeURIComponent(hook)}`);
}

interface Runner {
  label: string;
  warm: () => Promise<unknown>;
  gen: (tokens: number) => Promise<number[]>;
}

async function runner(runtime: string, precision: string, dir: string, threads: number): Promise<Runner> {
  if (runtime === 'engine') {
    const { loadModel } = await import('../../src/engine/index.ts');
    const { nativeEngine } = await import('../../src/engine/native.ts');
    nativeEngine().setThreads(threads);
    // nf4 / bf16: bf16 compute (decoding reads the head and unquantized weights from bf16 copies, activations fp32);
    // nf4-int8: int8 compute (NF4 products as int8 levels x int8 inputs, the head in int8 per 32: decode/rows_int8.h)
    const quant = precision.startsWith('nf4') ? 'nf4' : 'none';
    const compute = precision === 'fp32' ? 'fp32' : precision === 'nf4-int8' ? 'int8' : 'bf16';
    const m = await loadModel({ dir: join(dir, 'hf'), quant, compute });
    const isa = /isa=(\S+)/.exec(nativeEngine().engineCaps().backend)?.[1] ?? '?';
    const what =
      {
        nf4: 'nf4 + bf16 head',
        'nf4-int8': 'nf4 as int8 levels x int8 activations + int8 head',
        bf16: 'bf16 weights',
      }[precision] ?? 'fp32 weights';
    return {
      label: `${what} (isa ${isa})`,
      warm: () => m.generate(PROMPT, { maxTokens: 8, temperature: 0, eos: [] }),
      gen: (n) => m.generate(PROMPT, { maxTokens: n, temperature: 0, eos: [] }),
    };
  }
  if (runtime === 'ort') {
    const { loadOnnxDecoder, onnxGreedy } = await import('../../src/onnx/onnx-session.ts');
    const d = await loadOnnxDecoder(join(dir, `onnx-${precision}`), { threads });
    return { label: precision, warm: () => onnxGreedy(d, PROMPT, 8, []), gen: (n) => onnxGreedy(d, PROMPT, n, []) };
  }
  const variant = llamaCpuVariant();
  if (variant) await forceLlamaCpuVariant(variant, dir);
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false });
  const loaded = [...new Set(readFileSync('/proc/self/maps', 'utf8').match(/libggml-cpu-[a-z0-9_]+\.so/g) ?? [])];
  const model = await llama.loadModel({ modelPath: join(dir, `${precision}.gguf`), gpuLayers: 0 });
  const ctx = await model.createContext({ contextSize: 512, threads, batchSize: 512 });
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
  const cpu = variant ? `forced ${variant}` : 'best for this CPU';
  return { label: `${precision} (ggml cpu: ${cpu}; mapped: ${loaded.join(', ') || '?'})`, warm: () => run(8), gen: run };
}

/** Child: loads one runtime, warms it up, then answers each `run <tokens>` line on stdin with one timed generation. */
async function child(runtime: string, precision: string, dir: string, threads: number): Promise<void> {
  const r = await runner(runtime, precision, dir, threads);
  await r.warm();
  emitJson({ ready: true, label: r.label });
  for await (const line of createInterface({ input: process.stdin })) {
    const m = /^run (\d+)$/.exec(line);
    if (!m) break;
    const other = otherProcsCpuWindow();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const ids = await r.gen(Number(m[1]));
    const secs = (performance.now() - t0) / 1000;
    const cu = process.cpuUsage(c0);
    // the other processes' share: the window counts this process's CPU as its own
    emitJson({ tokens: ids.length, seconds: secs, cpu_seconds: (cu.user + cu.system) / 1e6, other_procs_cpu_frac: other(), rss: rssMb() });
  }
  emitJson({ rss: rssMb() });
}

/** Writes the model (HF, random init) and the exports the runtimes need into dir. */
async function prepare(dir: string, runtimes: string[]): Promise<void> {
  const hf = join(dir, 'hf');
  initModel(hf, { ...SMOLLM2_135M_SHAPE, seed: 0 });
  const { readBaseWeights } = await import('../../stages/shared/base-weights.ts');
  const { llamaHparams } = await import('../../stages/export/llama-hparams.ts');
  const { writeModelGguf } = await import('../../stages/export/gguf-export.ts');
  const { ggufVocab } = await import('../../stages/export/gguf/gguf-vocab.ts');
  const { buildLlamaDecoder, OPSET } = await import('../../stages/export/onnx/onnx-llama.ts');
  const config = JSON.parse(readFileSync(join(hf, 'config.json'), 'utf8'));
  const h = llamaHparams(config, join(hf, 'config.json'));
  const tensors = readBaseWeights(hf).tensors;
  const vocab = ggufVocab(hf, config, h.vocab);
  for (const t of ['F16', 'Q4_0']) if (runtimes.includes(`llama.cpp:${t}`)) writeModelGguf(join(dir, `${t}.gguf`), 'bench', h, vocab, tensors, t);
  for (const p of ['fp32', 'fp16'] as const) {
    if (!runtimes.includes(`ort:${p}`)) continue;
    const out = join(dir, `onnx-${p}`);
    mkdirSync(join(out, 'onnx'), { recursive: true });
    writeFileSync(join(out, 'config.json'), JSON.stringify(config));
    writeFileSync(
      join(out, 'onnx', p === 'fp16' ? 'model_fp16.onnx' : 'model.onnx'),
      buildLlamaDecoder(h, tensors, p === 'fp16' ? 'float16' : 'float32').encode({ producer: 'bench', version: '0', doc: '', props: {} }, OPSET),
    );
  }
}

/** A child process speaking JSON lines: `next()` resolves with its next JSON line (or rejects when it exits). */
class Child {
  private proc: ChildProcessWithoutNullStreams;
  private lines: Record<string, unknown>[] = [];
  private waiting?: { resolve: (l: Record<string, unknown>) => void; reject: (e: Error) => void };
  private exited?: string;
  constructor(
    readonly key: string,
    args: string[],
  ) {
    this.proc = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] }) as unknown as ChildProcessWithoutNullStreams;
    createInterface({ input: this.proc.stdout }).on('line', (l) => {
      if (!l.startsWith('{')) return;
      const o = JSON.parse(l) as Record<string, unknown>;
      if (this.waiting) {
        this.waiting.resolve(o);
        this.waiting = undefined;
      } else this.lines.push(o);
    });
    this.proc.on('exit', (code, sig) => {
      this.exited = `exit ${code ?? sig}`;
      this.waiting?.reject(new Error(`${key}: ${this.exited}`));
    });
  }
  next(): Promise<Record<string, unknown>> {
    const l = this.lines.shift();
    if (l) return Promise.resolve(l);
    if (this.exited) return Promise.reject(new Error(`${this.key}: ${this.exited}`));
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }
  send(s: string): void {
    if (!this.exited) this.proc.stdin.write(`${s}\n`);
  }
  kill(): void {
    if (!this.exited) this.proc.kill('SIGKILL');
  }
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : Number.NaN;
};

interface Run {
  tokens: number;
  seconds: number;
  cpu_seconds: number;
  other_procs_cpu_frac: number | null;
}

const runtimeName = (runtime: string): string => (runtime === 'ort' ? 'onnxruntime-node' : runtime);

/** Runs the comparison and prints one line per runtime, then the ratios line (bench: `${o.bench}-ratios`). */
export async function compareGeneration(o: CompareOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `peft-bench-${o.bench}-`));
  const self = fileURLToPath(import.meta.url);
  const children = new Map<string, Child>();
  const labels = new Map<string, string>();
  const runs = new Map<string, Run[]>(); // per runtime, one per round
  const errors = new Map<string, string>();
  try {
    await prepare(dir, o.runtimes);
    // load one runtime at a time (loading is not measured, and must not disturb another's timing)
    for (const key of o.runtimes) {
      const [runtime, precision] = key.split(':');
      const c = new Child(key, ['--import', 'tsx', self, '--child', runtime, precision, dir, String(o.threads)]);
      try {
        labels.set(key, String((await c.next()).label));
        children.set(key, c);
        runs.set(key, []);
      } catch (e) {
        errors.set(key, (e as Error).message);
        c.kill();
      }
    }
    const live = o.runtimes.filter((k) => children.has(k));
    for (let r = 0; r < o.rounds; r++) {
      const order = live.map((_, j) => live[(j + 2 * r) % live.length]); // rotate by a pair each round
      for (const key of order) {
        const c = children.get(key);
        if (!c) continue;
        c.send(`run ${o.newTokens}`);
        try {
          runs.get(key)?.push((await c.next()) as unknown as Run);
        } catch (e) {
          errors.set(key, (e as Error).message);
          children.delete(key);
        }
      }
    }
    const flags = cpuFlags();
    const med = new Map<string, number>();
    const invalid: string[] = [];
    const others: number[] = [];
    for (const key of o.runtimes) {
      const [runtime, precision] = key.split(':');
      const name = runtimeName(runtime);
      const c = children.get(key);
      let rss: { peak: number; now: number } | undefined;
      if (c) {
        c.send('exit');
        rss = (await c.next().catch(() => ({}) as Record<string, unknown>)).rss as typeof rss;
      }
      const rs = runs.get(key) ?? [];
      if (errors.has(key) || rs.length === 0 || rs.some((x) => x.tokens !== o.newTokens)) {
        const why = errors.get(key) ?? (rs.length ? `generated ${rs.map((x) => x.tokens).join(', ')} tokens, expected ${o.newTokens}` : 'no run');
        emitJson({ bench: o.bench, runtime: name, precision, error: why });
        invalid.push(`${name} ${precision}: ${why}`);
        continue;
      }
      const tps = rs.map((x) => x.tokens / x.seconds);
      const other = rs.map((x) => x.other_procs_cpu_frac ?? Number.NaN);
      others.push(...other);
      const spread = Math.max(...tps) / Math.min(...tps);
      if (spread > MAX_SPREAD) invalid.push(`${name} ${precision}: its ${rs.length} runs spread ${round(spread, 2)}x (> ${MAX_SPREAD}x)`);
      med.set(key, median(tps));
      emitJson({
        bench: o.bench,
        runtime: name,
        precision: labels.get(key),
        threads: o.threads,
        batch: 1,
        new_tokens: o.newTokens,
        runs: rs.length,
        tokens_per_s: round(median(tps), 1),
        tokens_per_s_runs: tps.map((x) => round(x, 1)),
        cpu_tokens_per_s: round(median(rs.map((x) => x.tokens / x.cpu_seconds)), 1),
        peak_rss_mb: rss?.peak ?? null,
        rss_after_mb: rss?.now ?? null,
        other_procs_cpu_frac: round(median(other), 3),
        cpu_flags: flags,
        loadavg: loadAverage(),
      });
    }
    const busy = median(others.filter(Number.isFinite));
    if (busy > o.maxOther) invalid.push(`other processes held ${round(busy * 100, 0)}% of the CPUs during the runs (median; > ${o.maxOther * 100}%)`);
    const valid = invalid.length === 0;
    const best = (prefix: string) => [...med.keys()].filter((k) => k.startsWith(prefix)).sort((a, b) => (med.get(b) ?? 0) - (med.get(a) ?? 0))[0] ?? '';
    const resolve = (k: string) => (k === 'best-engine' ? best('engine:') : k === 'best-ort' ? best('ort:') : k);
    // per-round ratios of a pair (measured next to each other), then their median
    const paired = (a: string, b: string, f: (x: Run) => number) => {
      const rb = runs.get(b) ?? [];
      const xs = (runs.get(a) ?? []).map((x, r) => (rb[r] ? f(x) / f(rb[r]) : Number.NaN)).filter(Number.isFinite);
      return xs.length ? round(median(xs), 2) : null;
    };
    const ratios: Record<string, unknown> = {};
    for (const [name, ka, kb] of o.pairs) {
      const a = resolve(ka),
        b = resolve(kb);
      const ok = med.has(a) && med.has(b);
      ratios[name] = ok && valid ? round((med.get(a) ?? 0) / (med.get(b) ?? 1), 2) : null;
      ratios[`${name}_paired`] = ok && valid ? paired(a, b, (x) => x.tokens / x.seconds) : null;
      if (o.threads === 1) ratios[`${name}_cpu_time`] = ok ? paired(a, b, (x) => x.tokens / x.cpu_seconds) : null;
    }
    emitJson({
      bench: `${o.bench}-ratios`,
      valid,
      ...(valid ? {} : { invalid_reasons: invalid }),
      ...ratios,
      ...(o.threads === 1
        ? {
            cpu_time_note:
              'tokens per second of the own CPU time of each process, single-threaded: no runtime waits on another thread, so the machine load does not enter these ratios',
          }
        : {}),
      goal: o.goal,
      engine_isa: process.env.PEFT_ISA ?? 'auto',
      llama_cpp_cpu_variant: llamaCpuVariant() ?? 'auto',
      threads: o.threads,
      rounds: o.rounds,
      cpu_flags: flags,
      loadavg: loadAverage(),
    });
  } finally {
    for (const c of children.values()) c.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

const i = process.argv.indexOf('--child');
if (i > 0 && process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1])
  await child(process.argv[i + 1], process.argv[i + 2], process.argv[i + 3], Number(process.argv[i + 4]));
