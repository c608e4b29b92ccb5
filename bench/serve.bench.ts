// `npm run bench serve`: `peftmake serve` under load, SmolLM2-135M shape (random init, byte-level tokenizer), NF4
// base (compute mode BENCH_SERVE_COMPUTE, default auto), from a temp project whose store holds two one-step adapters
// and their stacked composition. A bounded loop of the official openai client streams completions at 1, 4 and 16 concurrent streams (requests rotate over the
// base, each adapter and the composition, so a batch mixes adapter stacks; one SSE chunk per token: logprobs on).
// Per level: aggregate decode tokens/s (completion tokens over the level's wall window, which also holds every
// request's prompt prefill), prefill tokens/s (prompt rows over the wall time of the decoder steps that ran them),
// the decoder's steps (decode-only steps: count, rows, mean time; the share of the window inside steps), p50 / p99 time to
// first token over the requests and inter-token latency over every gap between consecutive tokens of every request,
// the sample counts behind each percentile, the process's CPU seconds in the window (server and client share it),
// how busy the rest of the machine was, peak RSS. Goal: 16 streams give >= 6x one stream's aggregate decode
// tokens/s with p99 inter-token latency <= 3x the single-stream one. The one-stream rate is checked against the
// engine's own single-sequence loop (`generate` on the same requests: models, adapter stacks, prompts; same run): a line says how they compare and
// the scaling line also gives the 16-stream rate over the faster of the two.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { build } from '../src/exec/build.ts';
import { TOOLCHAIN } from '../src/cli/toolchain.ts';
import { SMOLLM2_135M_SHAPE } from '../src/engine/init-model.ts';
import { type AdapterUse, type EngineAdapter, loadModel } from '../src/engine/index.ts';
import { nativeEngine } from '../src/engine/native.ts';
import { ModelRegistry } from '../src/serve/registry.ts';
import { startServer } from '../src/serve/server.ts';
import { cpuFlags, emitJson, loadAverage, otherProcsCpuWindow, peakRssMb, round } from './lib/system.ts';

const PROMPT_TOKENS = Number(process.env.BENCH_SERVE_PROMPT ?? 32);
const NEW_TOKENS = Number(process.env.BENCH_SERVE_TOKENS ?? 32);
const MODELS = ['base', 'a', 'b', 'mix'];
// The served base's compute mode (serve --compute): auto = bf16 where the CPU has native bf16 (then batched decoding
// runs its AVX512-BF16 products), else fp32; int8: NF4 decoding in int8 (decode/rows_int8.h).
const COMPUTE = (process.env.BENCH_SERVE_COMPUTE ?? 'auto') as 'fp32' | 'bf16' | 'int8' | 'auto';
// Prompt tokens that join the running batch per step (serve --max-prefill-tokens; default the server's 512).
const PREFILL = process.env.BENCH_SERVE_PREFILL ? Number(process.env.BENCH_SERVE_PREFILL) : undefined;
// Requests per stream at each level (bounded): one stream gets enough requests that its p99 ITL is not one gap.
const REQUESTS_PER_STREAM: Record<number, number> = { 1: 8, 4: 3, 16: 2 };

const pct = (xs: number[], p: number) => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

async function project(dir: string): Promise<void> {
  const text = Array.from({ length: 12 }, (_, i) => ({
    text: `Document ${i}: the quick brown fox jumps over the lazy dog, again and again, in the morning light.`,
  }));
  const train = { quant: 'nf4', compute: 'fp32', maxSteps: 1, seqLen: 32, batchSize: 1, warmup: 0, checkpointEvery: 0 };
  writeFileSync(
    join(dir, 'pipeline.json'),
    JSON.stringify({
      models: { base: { init: { ...SMOLLM2_135M_SHAPE, seed: 0 } } },
      datasets: { text: { model: 'base', source: { examples: text }, format: 'text', seqLen: 32, split: { valid: 0.2, seed: 1 } } },
      adapters: {
        a: { base: 'base', data: 'text', lora: { r: 8, alpha: 16 }, ...train },
        b: { base: 'base', data: 'text', lora: { r: 16, alpha: 16, targets: ['q_proj', 'v_proj'] }, ...train },
      },
      compositions: { mix: { base: 'base', adapters: [{ name: 'a' }, { name: 'b', weight: 0.5 }] } },
    }),
  );
  const t = performance.now();
  const r = await build({ file: join(dir, 'pipeline.json'), toolchain: TOOLCHAIN });
  if (!r.ok) throw new Error(`bench project build failed: ${JSON.stringify(r.stages.filter((s) => s.error))}`);
  process.stderr.write(`serve bench: project built in ${((performance.now() - t) / 1000).toFixed(1)} s\n`);
}

interface Sample {
  ttft: number;
  itl: number[];
  tokens: number;
}

async function one(client: OpenAI, model: string, seed: number): Promise<Sample> {
  const prompt = Array.from({ length: PROMPT_TOKENS }, (_, j) => 3 + ((seed * 131 + j * 17) % 40000));
  const t0 = performance.now();
  let last = 0;
  let ttft = 0;
  let tokens = 0;
  const itl: number[] = [];
  const body = { model, prompt, max_tokens: NEW_TOKENS, temperature: 0, stream: true, logprobs: 0, ignore_eos: true };
  const stream = await client.completions.create(body as unknown as OpenAI.CompletionCreateParamsStreaming);
  for await (const ch of stream) {
    const n = ch.choices[0]?.logprobs?.tokens?.length ?? 0;
    if (!n) continue;
    const now = performance.now();
    if (!last) ttft = now - t0;
    else itl.push(now - last);
    for (let i = 1; i < n; i++) itl.push(0); // tokens that came in one chunk arrived together
    last = now;
    tokens += n;
  }
  return { ttft, itl, tokens };
}

/**
 * Tokens/s of `generate` on the one-stream level's own requests: the same models (base, each adapter, the composition:
 * the served stacks resolved from the project's store), the same prompts and answer lengths, one after another
 * (prompt prefill included, as in each serve request's window); after one warm-up request per model.
 */
async function generateRate(projectDir: string, compute: 'fp32' | 'bf16' | 'int8'): Promise<number> {
  const registry = new ModelRegistry(projectDir, TOOLCHAIN);
  const stacks = MODELS.map((id) => registry.resolve(id));
  const m = await loadModel({ dir: stacks[0].base.dir, quant: 'nf4', compute });
  const loaded = new Map<string, EngineAdapter>();
  const uses: AdapterUse[][] = [];
  for (const st of stacks) {
    const use: AdapterUse[] = [];
    for (const a of st.adapters) {
      if (!loaded.has(a.dir)) loaded.set(a.dir, await m.loadAdapter(a.dir, a.name));
      use.push({ adapter: loaded.get(a.dir) as EngineAdapter, weight: a.weight });
    }
    uses.push(use);
  }
  const request = async (k: number, seed: number) => {
    const prompt = Array.from({ length: PROMPT_TOKENS }, (_, j) => 3 + ((seed * 131 + j * 17) % 40000));
    return (await m.generate(prompt, { maxTokens: NEW_TOKENS, eos: [] }, uses[k % MODELS.length])).length;
  };
  for (let k = 0; k < MODELS.length; k++) await request(k, 0); // warm-up, as the server's
  let tokens = 0;
  const t = performance.now();
  for (let k = 0; k < REQUESTS_PER_STREAM[1]; k++) tokens += await request(k, 1 + k); // the one-stream level's requests
  return round(tokens / ((performance.now() - t) / 1000), 2);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'peft-serve-bench-'));
  try {
    await project(dir);
    const s = await startServer({
      projectDir: dir,
      toolchain: TOOLCHAIN,
      port: 0,
      quant: 'nf4',
      compute: COMPUTE,
      maxBatch: 16,
      maxPrefillTokens: PREFILL,
      log: () => {},
    });
    const client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'bench', maxRetries: 0 });
    try {
      for (const m of MODELS) await one(client, m, 0); // loads the base and every adapter, warms the kernels
      const results: Record<string, unknown>[] = [];
      for (const streams of [1, 4, 16]) {
        const perStream = REQUESTS_PER_STREAM[streams];
        const samples: Sample[] = [];
        const other = otherProcsCpuWindow();
        const st0 = { ...s.metrics.steps };
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        await Promise.all(
          Array.from({ length: streams }, async (_, w) => {
            for (let k = 0; k < perStream; k++) samples.push(await one(client, MODELS[(w + k) % MODELS.length], 1 + w * 7 + k));
          }),
        );
        const wall = (performance.now() - t0) / 1000;
        const cpu = process.cpuUsage(cpu0);
        const cpuS = (cpu.user + cpu.system) / 1e6;
        const st = Object.fromEntries(Object.entries(s.metrics.steps).map(([k, v]) => [k, v - st0[k as keyof typeof st0]])) as typeof st0;
        const stepS = st.decodeSeconds + st.prefillSeconds;
        const tokens = samples.reduce((a, x) => a + x.tokens, 0);
        const ttfts = samples.map((x) => x.ttft);
        const itls = samples.flatMap((x) => x.itl);
        const line = {
          bench: 'serve',
          model: 'SmolLM2-135M shape (random init)',
          quant: 'nf4',
          compute: COMPUTE === 'auto' ? (nativeEngine().engineCaps().bf16Native ? 'bf16' : 'fp32') : COMPUTE,
          max_prefill_tokens: PREFILL ?? 512,
          streams,
          requests: samples.length,
          prompt_tokens: PROMPT_TOKENS,
          new_tokens: NEW_TOKENS,
          completion_tokens: tokens,
          aggregate_decode_tokens_per_s: round(tokens / wall, 2),
          // prompt rows over the time of the steps that ran them (those steps carry the running rows' decode too)
          prefill_tokens_per_s: st.prefillSeconds > 0 ? round(st.prefillRows / st.prefillSeconds, 2) : null,
          prefill_steps: st.prefillSteps,
          // steps with decode rows only: their count, mean rows and mean wall time, and that time per token
          decode_steps: st.decodeSteps,
          decode_rows_per_step: st.decodeSteps ? round(st.decodeRows / st.decodeSteps, 2) : null,
          decode_step_ms: st.decodeSteps ? round((st.decodeSeconds / st.decodeSteps) * 1000, 2) : null,
          decode_step_tokens_per_s: st.decodeSeconds > 0 ? round(st.decodeRows / st.decodeSeconds, 2) : null,
          // share of the window spent inside native decoder steps (the rest: HTTP, SSE, the client, idle)
          step_time_frac: round(stepS / wall, 3),
          process_cpu_ms_per_step: round((cpuS * 1000) / Math.max(1, st.decodeSteps + st.prefillSteps), 2),
          ttft_ms_p50: round(pct(ttfts, 50)!, 1),
          ttft_ms_p99: round(pct(ttfts, 99)!, 1),
          ttft_samples: ttfts.length,
          itl_ms_p50: round(pct(itls, 50)!, 1),
          itl_ms_p99: round(pct(itls, 99)!, 1),
          itl_samples: itls.length,
          wall_s: round(wall, 2),
          process_cpu_s: round(cpuS, 2),
          decode_tokens_per_cpu_s: round(tokens / cpuS, 2),
          other_procs_cpu_frac: other(),
          peak_rss_mb: peakRssMb(),
          threads: nativeEngine().engineCaps().threads,
          cpu_flags: cpuFlags(),
          loadavg: loadAverage(),
        };
        emitJson(line);
        results.push(line);
      }
      const one1 = results[0] as { aggregate_decode_tokens_per_s: number; itl_ms_p99: number; compute: string };
      // The one-stream baseline checked against the engine's own single-sequence loop (generate: no HTTP, no step
      // hand-offs) on the same requests (models, adapter stacks, prompts, answer lengths), in the same run.
      const gen = await generateRate(dir, one1.compute as 'fp32' | 'bf16' | 'int8');
      emitJson({
        bench: 'serve-single-vs-generate',
        generate_tokens_per_s: gen,
        serve_1_stream_tokens_per_s: one1.aggregate_decode_tokens_per_s,
        serve_1_stream_vs_generate: round(one1.aggregate_decode_tokens_per_s / gen, 2),
        loadavg: loadAverage(),
      });
      const r16 = results[2] as { aggregate_decode_tokens_per_s: number; itl_ms_p99: number };
      const ratio = round(r16.aggregate_decode_tokens_per_s / one1.aggregate_decode_tokens_per_s, 2);
      const itlRatio = round(r16.itl_ms_p99 / one1.itl_ms_p99, 2);
      emitJson({
        bench: 'serve-scaling',
        decode_tokens_per_s_16_vs_1: ratio,
        // against the faster of the two single-stream rates (serve's one stream, the engine's generate loop)
        decode_tokens_per_s_16_vs_best_single: round(r16.aggregate_decode_tokens_per_s / Math.max(gen, one1.aggregate_decode_tokens_per_s), 2),
        itl_p99_16_vs_1: itlRatio,
        goal: '>= 6x tokens/s, <= 3x p99 ITL',
        goal_met: ratio >= 6 && itlRatio <= 3,
      });
    } finally {
      await s.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
