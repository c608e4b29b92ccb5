// Sparse MoE benchmark (JSON lines) on a random-init model of MiniMaxAI/MiniMax-M2's shape at reduced depth: its real
// width (hidden 3072, 48 query / 8 KV heads of 128, rotary 64, expert width 1536, top-8 sigmoid routing) and 2 layers:
// frozen bytes per parameter with NF4 storage (whole model, and the NF4-stored linears alone: the embedding, head,
// norms and router stay fp32), init and load + quantise seconds, RSS after the load and peak RSS per phase, LoRA
// training tokens/s (r 16 on attention and every expert's w1 / w2 / w3) and greedy generation tokens/s (batch 1, KV
// cache). The checkpoint is written by `initModel` in a child process, in the hub's layout (projections FP8 e4m3 with
// 128x128 weight_scale_inv block scales, the rest bf16; streamed), so this process's peak RSS is
// the load's, training's and generation's alone.
// Default: 16 experts and a 32000 vocabulary (~0.74B parameters, ~1 GB of disk). BENCH_BIG=1 (opt-in, ~9 GB of
// disk, ~10 GB of memory, many minutes): the real 256 experts and vocabulary 200064 (~8.6B parameters; 7.2B of them in
// the experts). Run: `npm run bench moe` (or `npx tsx bench/moe.bench.ts`).
// Env: BENCH_BIG=1, BENCH_MOE_LAYERS (2), BENCH_MOE_EXPERTS, BENCH_MOE_VOCAB, BENCH_MOE_DIR (where the checkpoint goes;
// the temp dir by default; deleted after the run), BENCH_SEQ (128), BENCH_BATCH (1), BENCH_STEPS (2), BENCH_GEN (16),
// BENCH_COMPUTE (bf16 with native bf16 matmuls, else fp32), BENCH_THREADS.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initModel, type LlamaShape } from '../src/engine/init-model.ts';
import { loadModel } from '../src/engine/index.ts';
import { nativeEngine } from '../src/engine/native.ts';
import { benchTrainAndGenerate } from './lib/family-bench.ts';
import { cpuFlags, emitJson, loadAverage, peakRssMb, round } from './lib/system.ts';

const LAYERS = Number(process.env.BENCH_MOE_LAYERS ?? 2);
const BIG = process.env.BENCH_BIG === '1';
const EXPERTS = Number(process.env.BENCH_MOE_EXPERTS ?? (BIG ? 256 : 16));
const VOCAB = Number(process.env.BENCH_MOE_VOCAB ?? (BIG ? 200064 : 32000));
const SEQ = Number(process.env.BENCH_SEQ ?? 128);
const BATCH = Number(process.env.BENCH_BATCH ?? 1);
const STEPS = Number(process.env.BENCH_STEPS ?? 2);
const GEN = Number(process.env.BENCH_GEN ?? 16);
const RANK = 16;

/** MiniMaxAI/MiniMax-M2's config.json (62 layers, 256 experts), as an init shape. */
export const MINIMAX_M2_SHAPE: Readonly<LlamaShape> = Object.freeze({
  modelType: 'minimax_m2',
  vocabSize: 200064,
  hiddenSize: 3072,
  intermediateSize: 1536,
  numLayers: 62,
  numHeads: 48,
  numKvHeads: 8,
  headDim: 128,
  rotaryDim: 64,
  numExperts: 256,
  expertsPerTok: 8,
  ropeTheta: 5e6,
  rmsNormEps: 1e-6,
  tieWordEmbeddings: false,
  maxPositionEmbeddings: 196608,
});

const SHAPE = { ...MINIMAX_M2_SHAPE, numLayers: LAYERS, numExperts: EXPERTS, vocabSize: VOCAB };

/** Child: writes the FP8 checkpoint (the hub's layout); prints its seconds, parameter count and peak RSS. */
function childInit(dir: string): void {
  const t = performance.now();
  const r = initModel(dir, { ...SHAPE, seed: 0, dtype: 'F8_E4M3', tokenizer: 'none', initStd: 0.02 });
  emitJson({ seconds: round((performance.now() - t) / 1000, 1), params: r.numParams, peak_rss_mb: peakRssMb() });
}

async function main(): Promise<void> {
  const ne = nativeEngine();
  if (process.env.BENCH_THREADS) ne.setThreads(Number(process.env.BENCH_THREADS));
  const compute = (process.env.BENCH_COMPUTE ?? (ne.engineCaps().bf16Native ? 'bf16' : 'fp32')) as 'bf16' | 'fp32';
  const root = mkdtempSync(join(process.env.BENCH_MOE_DIR ?? tmpdir(), 'peftmake-bench-moe-'));
  const dir = join(root, 'model');
  try {
    const loadBefore = loadAverage();
    const child = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--init', dir], { encoding: 'utf8' });
    const line = child.stdout.split('\n').find((l) => l.startsWith('{'));
    if (child.status !== 0 || !line) throw new Error(`init exited with ${child.status ?? child.signal}: ${child.stderr.slice(-2000)}`);
    const init = JSON.parse(line) as { seconds: number; params: number; peak_rss_mb: number };
    const t1 = performance.now();
    const m = await loadModel({ dir, quant: 'nf4', compute });
    const loadSecs = (performance.now() - t1) / 1000;
    const rssAfterLoad = round(process.memoryUsage.rss() / 2 ** 20, 1);
    const peakLoad = peakRssMb();
    const H = 3072,
      I = 1536,
      q = 48 * 128,
      kv = 8 * 128;
    const expertParams = LAYERS * EXPERTS * 3 * H * I;
    const attnParams = LAYERS * (2 * H * q + 2 * H * kv);
    const fp32Params = m.info.params - expertParams - attnParams; // embedding, head, norms, q/k norms, router, bias
    // the fp32 tensors and, in bf16 compute, the head's bf16 copy for decoding are not NF4 linears
    const linearBytes = m.info.frozenBytes - fp32Params * 4 - m.info.headCopyBytes;
    const common = {
      model: `MiniMax-M2 shape (random init, ${LAYERS} of 62 layers, ${EXPERTS} of 256 experts, top-8, vocab ${VOCAB})`,
      compute,
      cpu_flags: cpuFlags(),
      load_average_before: loadBefore,
      load_average: loadAverage(),
    };
    emitJson({
      bench: 'moe-memory',
      ...common,
      params: init.params,
      frozen_bytes_nf4: m.info.frozenBytes,
      head_bf16_copy_bytes: m.info.headCopyBytes,
      bytes_per_param_nf4: round(m.info.frozenBytes / m.info.params, 4),
      nf4_linear_params: expertParams + attnParams,
      nf4_linear_bytes_per_param: round(linearBytes / (expertParams + attnParams), 4),
      fp32_params: fp32Params,
      active_params_per_token: attnParams + LAYERS * 8 * 3 * H * I,
      checkpoint: 'fp8 e4m3 projections with 128x128 weight_scale_inv, the rest bf16 (the hub layout)',
      init_fp8_seconds: init.seconds,
      init_peak_rss_mb: init.peak_rss_mb,
      load_quantise_seconds: round(loadSecs, 1),
      rss_after_load_mb: rssAfterLoad,
      peak_rss_load_mb: peakLoad,
    });

    await benchTrainAndGenerate({ prefix: 'moe', model: m, vocab: VOCAB, rank: RANK, seq: SEQ, batch: BATCH, steps: STEPS, newTokens: GEN, common });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--init') childInit(process.argv[3]);
else await main();
