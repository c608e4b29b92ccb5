// Engine benchmark (JSON lines): LoRA training (r 16, all-linear, seq 512, batch 4) on a random-init model of
// SmolLM2-135M's shape — nf4+bf16, nf4+fp32, none+bf16 — with tokens/s, achieved GFLOPS, the ratio to the in-run
// matmul rate on the model's own projection shapes (oneDNN bf16 / sgemm fp32), the ratio to the best PyTorch peer
// run (bench/lib/peer.ts, fp32 and bf16, best of default and OMP_WAIT_POLICY=PASSIVE), peak RSS beside the planned
// footprint, a per-op-family profile of a step, CPU flags and kernels; then generation tokens/s (batch 1, KV cache)
// in bf16 beside fp32; then generation batch 1 beside llama.cpp on the same model (node-llama-cpp's prebuilt CPU
// binaries; engine NF4 (bf16 compute, and int8 compute) vs Q4_0, engine fp32 vs F16; interleaved rounds, invalid under load: lib/generation-compare.ts),
// each line with the CPU flags and the ISA path each side ran (PEFT_ISA=avx2 runs the engine's AVX2 kernels and,
// unless LLAMA_CPU_VARIANT says otherwise, llama.cpp's haswell = AVX2 build).
// Run: `npx tsx bench/engine.bench.ts` (each configuration in its own process so peak RSS is its own).
// Env: BENCH_STEPS (default 3), BENCH_SEQ (512), BENCH_BATCH (4), BENCH_CONFIGS ("nf4:bf16,nf4:fp32,none:bf16"),
// BENCH_THREADS, BENCH_DROPOUT (LoRA dropout, 0), BENCH_PEER=0 (skip the PyTorch peer), BENCH_PEER_MODES ("fp32,bf16";
// "fp32" skips the peer's bf16 autocast runs, which time out on CPUs without native bf16), BENCH_LLAMACPP=0 (skip the
// llama.cpp comparison), BENCH_GEN_ROUNDS (3), BENCH_GEN_TOKENS (64), BENCH_ACT_BUDGET_MB (760: activations kept, the rest recomputed; all 30 layers fit at this shape, peak RSS ~1.39 GB here).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initModel, SMOLLM2_135M_SHAPE } from '../src/engine/init-model.ts';
import { loadModel, train, type MicroBatch } from '../src/engine/index.ts';
import { nativeEngine } from '../src/engine/native.ts';
import { compareGeneration } from './lib/generation-compare.ts';
import { peerBest, type PeerResult } from './lib/peer.ts';
import { cpuFlags, emitJson, loadAverage, round } from './lib/system.ts';

const STEPS = Number(process.env.BENCH_STEPS ?? 3);
const SEQ = Number(process.env.BENCH_SEQ ?? 512);
const BATCH = Number(process.env.BENCH_BATCH ?? 4);
const RANK = 16;
const DROPOUT = Number(process.env.BENCH_DROPOUT ?? 0); // LoRA dropout (the adapter stage's default is 0.05)

/** Matmul FLOPs of one training step: forward, input-gradient backward through the frozen weights, recomputed
 * forward (when on), LoRA forward/backward, lm_head + chunked CE forward/backward, causal attention. */
function stepFlops(s: typeof SMOLLM2_135M_SHAPE, tokens: number, T: number, recomputedLayers: number): number {
  const hd = s.hiddenSize / s.numHeads;
  const kv = (s.numKvHeads ?? s.numHeads) * hd;
  const H = s.hiddenSize,
    I = s.intermediateSize;
  const linear = H * H * 2 + H * kv * 2 + 3 * H * I; // q, o, k, v, gate, up, down
  const lora = RANK * (H + H + H + H + H + H + H + H + H + kv + H + kv + H + I + H + I + I + H); // A+B of the 7 projections
  const fwd = 2 * tokens * (linear + lora) * s.numLayers + 2 * tokens * s.vocabSize * H;
  const attnFwd = 2 * 2 * ((tokens * T) / 2) * H * s.numLayers; // QK^T and PV over the causal half
  const bwd = 2 * tokens * (linear + 2 * lora) * s.numLayers + 2 * tokens * s.vocabSize * H + 2 * attnFwd;
  return fwd + attnFwd + bwd + (fwd - 2 * tokens * s.vocabSize * H + attnFwd) * (recomputedLayers / s.numLayers);
}

/** The in-run matmul rate on the model's own shapes: each frozen projection's forward product (T x out x in) and the
 * lm_head (T x vocab x hidden), best of 3 each, combined by FLOPs (total FLOPs / total seconds). */
function modelMatmulGflops(bf16: boolean): number {
  const s = SMOLLM2_135M_SHAPE,
    H = s.hiddenSize,
    I = s.intermediateSize;
  const kv = (s.numKvHeads ?? s.numHeads) * (H / s.numHeads);
  const shapes: Array<[number, number, number]> = [
    [H, H, 2],
    [kv, H, 2],
    [I, H, 2],
    [H, I, 1],
  ]; // [out, in, count]: q+o, k+v, gate+up, down
  const M = SEQ * BATCH,
    ne = nativeEngine();
  let flops = 0,
    secs = 0;
  for (const [N, K, count] of shapes) {
    const f = 2 * M * N * K * count * s.numLayers;
    flops += f;
    secs += f / 1e9 / ne.benchSgemm({ M, N, K, iters: 3, bf16 });
  }
  const fh = 2 * M * s.vocabSize * H;
  flops += fh;
  secs += fh / 1e9 / ne.benchSgemm({ M: 256, N: s.vocabSize, K: H, iters: 3, bf16 }); // lm_head in 256-row chunks
  return flops / secs / 1e9;
}

/** The peer's FLOP count of one step (../shared/peers/README.md), so achieved GFLOPS compare like for like:
 * 4·N_lin·T + 12·L·S·H·T + 6·N_lora·T, N_lin = frozen projections + lm_head, attention over the full S×S,
 * N_lora = Σ r·(in + out). 1.379 TFLOP for the SmolLM2-135M shape at seq 512, batch 4. */
function peerStepFlops(s: typeof SMOLLM2_135M_SHAPE, tokens: number, S: number): number {
  const H = s.hiddenSize,
    I = s.intermediateSize,
    kv = (s.numKvHeads ?? s.numHeads) * (H / s.numHeads);
  const nLin = (H * H * 2 + H * kv * 2 + 3 * H * I) * s.numLayers + s.vocabSize * H;
  const nLora = RANK * ((H + H) * 2 + (H + kv) * 2 + (H + I) * 2 + (I + H)) * s.numLayers;
  return 4 * nLin * tokens + 12 * s.numLayers * S * H * tokens + 6 * nLora * tokens;
}

async function one(config: string, dir: string): Promise<void> {
  const [quant, compute] = config.split(':') as ['nf4' | 'none', 'fp32' | 'bf16'];
  const ne = nativeEngine();
  if (process.env.BENCH_THREADS) ne.setThreads(Number(process.env.BENCH_THREADS));
  const caps = ne.engineCaps();
  const matmulBefore = modelMatmulGflops(compute === 'bf16');
  const m = await loadModel({ dir, quant, compute });
  const adapter = await m.createAdapter({ r: RANK, alpha: 32, targets: 'all-linear', seed: 0 });
  let s = 1;
  const rnd = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % SMOLLM2_135M_SHAPE.vocabSize;
  const batches: MicroBatch[] = Array.from({ length: STEPS + 1 }, () => {
    const ids = Array.from({ length: BATCH }, () => Array.from({ length: SEQ }, rnd));
    return { inputIds: ids, labels: ids };
  });
  // recompute the layers whose activations do not fit in the budget (the rest keep theirs): 640 MiB keeps the nf4
  // run's peak RSS under the 1.5 GB goal at this shape (~25 MB of activations per layer in bf16)
  const recompute = true;
  const activationBudgetBytes = Number(process.env.BENCH_ACT_BUDGET_MB ?? 760) * 2 ** 20;
  // one trainer (its arenas are the footprint being measured); step 0 is the warm-up and is not timed
  ne.engineProfile({ reset: true });
  const res = await train(
    { model: m, adapter, batches, steps: STEPS + 1, lr: 1e-4, recompute, activationBudgetBytes, dropout: DROPOUT },
    // the warm-up step (primitive creation, first touches) is left out of the per-family profile
    {
      onProgress: (p) => {
        if (p.step === 1) ne.engineProfile({ reset: true });
      },
    },
  );
  const prof = ne.engineProfile();
  const timed = res.records.slice(1);
  const secs = timed.reduce((a, r) => a + r.seconds, 0) / timed.length;
  const tokens = SEQ * BATCH;
  const info = ne.trainerInfo(res.trainer);
  const flops = stepFlops(SMOLLM2_135M_SHAPE, tokens, SEQ, info.recomputedLayers);
  const peerFlops = peerStepFlops(SMOLLM2_135M_SHAPE, tokens, SEQ);
  const peak = process.resourceUsage().maxRSS * 1024; // training's peak, before the second matmul measurement and generation allocate
  // the reference rate is the best of before and after training (as the peer's matmul_peak_gflops): a shared machine
  // can make one of them low, which would inflate the ratio
  const matmul = Math.max(matmulBefore, modelMatmulGflops(compute === 'bf16'));
  const t0 = performance.now();
  const gen = await m.generate(
    Array.from({ length: 16 }, (_, i) => 1 + i),
    { maxTokens: 64, eos: [] },
  );
  const genSecs = (performance.now() - t0) / 1000;
  const theoretical = info.frozenBytes + info.loraBytes + info.activationBytes;
  console.log(
    JSON.stringify({
      bench: 'engine-train',
      quant,
      compute,
      model: 'SmolLM2-135M shape (random init)',
      seq: SEQ,
      batch: BATCH,
      rank: RANK,
      lora_dropout: DROPOUT,
      steps: STEPS,
      step_seconds: +secs.toFixed(3),
      tokens_per_s: +(tokens / secs).toFixed(1),
      // useful work by the peer's count (what PyTorch's achieved_gflops uses)
      achieved_gflops: +(peerFlops / secs / 1e9).toFixed(1),
      step_tflop: +(peerFlops / 1e12).toFixed(3),
      // what the engine executes: causal attention only, plus the recomputed forward
      executed_gflops: +(flops / secs / 1e9).toFixed(1),
      executed_step_tflop: +(flops / 1e12).toFixed(3),
      recomputed_layers: info.recomputedLayers,
      matmul_gflops_model_shapes: +matmul.toFixed(1),
      matmul_kernel: compute === 'bf16' ? (caps.bf16Native ? 'onednn bf16' : 'fp32 sgemm (no native bf16)') : 'fp32 sgemm',
      ratio_to_matmul: +(peerFlops / secs / 1e9 / matmul).toFixed(3),
      executed_ratio_to_matmul: +(flops / secs / 1e9 / matmul).toFixed(3),
      peak_rss_mb: +(peak / 2 ** 20).toFixed(1),
      theoretical_mb: +(theoretical / 2 ** 20).toFixed(1),
      rss_over_theoretical: +(peak / theoretical).toFixed(2),
      frozen_bytes_per_param: +(info.frozenBytes / m.info.params).toFixed(3),
      final_loss: +res.records.at(-1)!.loss.toFixed(4),
      generate_tokens_per_s: +(gen.length / genSecs).toFixed(1),
      profile_ms_per_step: Object.fromEntries(
        [
          ...Object.entries(prof.families),
          ['unaccounted', prof.unaccounted],
          ['pool_caller_wait', prof.poolCallerWaitSeconds],
          ['pool_worker_busy', prof.poolWorkerBusySeconds],
        ].map(([k, v]) => [k, +(((v as number) * 1000) / Math.max(1, prof.steps)).toFixed(1)]),
      ),
      pool_regions_per_step: Math.round(prof.poolRegions / Math.max(1, prof.steps)),
      pool_regions_per_step_by_family: Object.fromEntries(Object.entries(prof.familyRegions).map(([k, v]) => [k, Math.round(v / Math.max(1, prof.steps))])),
      threads: caps.threads,
      isa: /isa=(\S+)/.exec(caps.backend)?.[1] ?? null, // the decode kernels' ISA (PEFT_ISA forces one)
      backend: caps.backend,
      kernels: m.info.kernels,
      cpu_flags: cpuFlags(),
      loadavg: loadAverage(),
    }),
  );
}

async function main(): Promise<void> {
  const argIdx = process.argv.indexOf('--one');
  if (argIdx > 0) return one(process.argv[argIdx + 1], process.argv[argIdx + 2]);
  const dir = mkdtempSync(join(tmpdir(), 'peft-bench-'));
  try {
    initModel(dir, { ...SMOLLM2_135M_SHAPE, seed: 0, tokenizer: 'none' });
    const self = fileURLToPath(import.meta.url);
    const lines: Array<Record<string, unknown>> = [];
    for (const config of (process.env.BENCH_CONFIGS ?? 'nf4:bf16,nf4:fp32,none:bf16').split(',')) {
      const r = spawnSync(process.execPath, ['--import', 'tsx', self, '--one', config, dir], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
      const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
      if (r.status !== 0 || !line) emitJson({ bench: 'engine-train', config, error: `exit ${r.status}` });
      else lines.push(JSON.parse(line) as Record<string, unknown>);
    }
    const peerModes = (process.env.BENCH_PEER_MODES ?? 'fp32,bf16').split(',') as Array<'fp32' | 'bf16'>;
    const peer: PeerResult | undefined =
      process.env.BENCH_PEER === '0'
        ? undefined
        : peerBest({
            steps: 2,
            warmup: 1,
            timeBudgetS: 40,
            modes: peerModes,
          });
    const best = peer ? Object.values(peer.best).reduce<number>((a, l) => Math.max(a, l?.tokens_per_s ?? 0), 0) : 0;
    for (const l of lines) emitJson({ ...l, ratio_to_best_torch: best > 0 ? round((l.tokens_per_s as number) / best, 2) : null });
    if (peer?.skipped) emitJson({ bench: 'engine-peer', skipped: peer.skipped });
    else if (peer)
      for (const mode of peerModes) {
        const b = peer.best[mode];
        emitJson({
          bench: 'engine-peer',
          mode,
          best_of: 'default, OMP_WAIT_POLICY=PASSIVE',
          ...(b
            ? {
                tokens_per_s: b.tokens_per_s,
                achieved_gflops: b.achieved_gflops,
                omp_wait_policy: b.omp_wait_policy,
                peak_rss_mb: b.peak_rss_mb,
                matmul_peak_gflops: b.matmul_peak_gflops,
                other_procs_cpu_frac: b.other_procs_cpu_frac,
                cpu_flags: b.cpu_flags,
              }
            : { error: 'every run failed' }),
        });
      }
    const gen = (q: string, c: string) => lines.find((l) => l.quant === q && l.compute === c)?.generate_tokens_per_s ?? null;
    emitJson({
      bench: 'engine-generate',
      isa: lines[0]?.isa ?? null,
      batch: 1,
      kv_cache: true,
      new_tokens: 64,
      nf4_bf16_tokens_per_s: gen('nf4', 'bf16'),
      nf4_fp32_tokens_per_s: gen('nf4', 'fp32'),
      none_bf16_tokens_per_s: gen('none', 'bf16'),
      note: 'decode steps (< 32 rows) run the frozen projections in fp32 in both modes',
      cpu_flags: cpuFlags(),
    });
    if (process.env.BENCH_LLAMACPP !== '0')
      await compareGeneration({
        bench: 'engine-generate-vs-llamacpp',
        runtimes: ['engine:nf4', 'llama.cpp:Q4_0', 'engine:nf4-int8', 'engine:fp32', 'llama.cpp:F16'],
        pairs: [
          ['engine_nf4_over_llamacpp_q4_0', 'engine:nf4', 'llama.cpp:Q4_0'],
          ['engine_nf4_int8_over_llamacpp_q4_0', 'engine:nf4-int8', 'llama.cpp:Q4_0'],
          ['engine_nf4_int8_over_nf4', 'engine:nf4-int8', 'engine:nf4'],
          ['engine_fp32_over_llamacpp_f16', 'engine:fp32', 'llama.cpp:F16'],
        ],
        threads: Number(process.env.BENCH_THREADS ?? nativeEngine().engineCaps().threads),
        newTokens: Number(process.env.BENCH_GEN_TOKENS ?? 64),
        rounds: Number(process.env.BENCH_GEN_ROUNDS ?? 3),
        maxOther: Number(process.env.BENCH_MAX_OTHER ?? 0.1),
        goal: 'engine >= 1x llama.cpp at comparable precision (NF4 vs Q4_0, fp32 vs F16), on AVX2 and on AVX-512',
      });
  } finally {
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
export { main as runEngineBench };
