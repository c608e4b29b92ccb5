// Sparse MoE benchmark (JSON lines) on a random-init model of MiniMaxAI/MiniMax-M2's shape at reduced depth: its real
// width (hidden 3072, 48 query / 8 KV heads of 128, rotary 64, expert width 1536, top-8 sigmoid routing), 256
// experts and 2 layers by default: frozen bytes per parameter with NF4 storage (whole model, and the NF4-stored
// linears alone: the embedding, head, norms and router stay fp32), LoRA training tokens/s (r 16 on attention and
// every expert's w1 / w2 / w3) and greedy generation tokens/s (batch 1, KV cache, the batched decoder).
// The default shape needs ~17 GB of disk (BF16 file) and ~9 GB of memory; BENCH_MOE_EXPERTS lowers the expert count
// (the active compute per token stays top-8 of experts of the real width). Run: `npx tsx bench/moe.bench.ts`.
// Env: BENCH_MOE_LAYERS (2), BENCH_MOE_EXPERTS (256), BENCH_MOE_VOCAB (200064), BENCH_SEQ (128), BENCH_BATCH (1),
// BENCH_STEPS (2), BENCH_GEN (16), BENCH_COMPUTE (bf16 with native bf16 matmuls, else fp32), BENCH_THREADS.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initModel, type LlamaShape } from '../src/engine/init-model.ts';
import { loadModel } from '../src/engine/index.ts';
import { nativeEngine } from '../src/engine/native.ts';
import { benchTrainAndGenerate } from './lib/family-bench.ts';
import { cpuFlags, emitJson, loadAverage, peakRssMb, round } from './lib/system.ts';

const LAYERS = Number(process.env.BENCH_MOE_LAYERS ?? 2);
const EXPERTS = Number(process.env.BENCH_MOE_EXPERTS ?? 256);
const VOCAB = Number(process.env.BENCH_MOE_VOCAB ?? 200064);
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

async function main(): Promise<void> {
  const ne = nativeEngine();
  if (process.env.BENCH_THREADS) ne.setThreads(Number(process.env.BENCH_THREADS));
  const compute = (process.env.BENCH_COMPUTE ?? (ne.engineCaps().bf16Native ? 'bf16' : 'fp32')) as 'bf16' | 'fp32';
  const shape = { ...MINIMAX_M2_SHAPE, numLayers: LAYERS, numExperts: EXPERTS, vocabSize: VOCAB };
  const dir = mkdtempSync(join(tmpdir(), 'peftmake-bench-moe-'));
  try {
    const t0 = performance.now();
    const init = initModel(dir, { ...shape, seed: 0, dtype: 'BF16', tokenizer: 'none', initStd: 0.02 });
    const initSecs = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    const m = await loadModel({ dir, quant: 'nf4', compute });
    const loadSecs = (performance.now() - t1) / 1000;
    const H = 3072,
      I = 1536,
      q = 48 * 128,
      kv = 8 * 128;
    const expertParams = LAYERS * EXPERTS * 3 * H * I;
    const attnParams = LAYERS * (2 * H * q + 2 * H * kv);
    const fp32Params = m.info.params - expertParams - attnParams; // embedding, head, norms, q/k norms, router, bias
    const linearBytes = m.info.frozenBytes - fp32Params * 4;
    const common = {
      model: `MiniMax-M2 shape (random init, ${LAYERS} of 62 layers, ${EXPERTS} of 256 experts, top-8, vocab ${VOCAB})`,
      compute,
      cpu_flags: cpuFlags(),
      load_average: loadAverage(),
    };
    emitJson({
      bench: 'moe-memory',
      ...common,
      params: init.numParams,
      frozen_bytes_nf4: m.info.frozenBytes,
      bytes_per_param_nf4: round(m.info.frozenBytes / m.info.params, 4),
      nf4_linear_params: expertParams + attnParams,
      nf4_linear_bytes_per_param: round(linearBytes / (expertParams + attnParams), 4),
      fp32_params: fp32Params,
      active_params_per_token: attnParams + LAYERS * 8 * 3 * H * I,
      init_seconds: round(initSecs, 1),
      load_seconds: round(loadSecs, 1),
      peak_rss_mb: peakRssMb(),
    });

    await benchTrainAndGenerate({ prefix: 'moe', model: m, vocab: VOCAB, rank: RANK, seq: SEQ, batch: BATCH, steps: STEPS, newTokens: GEN, common });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
