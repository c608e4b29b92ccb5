// GPT-2 family benchmark (JSON lines) on a random-init model of microsoft/DialoGPT-medium's shape (vocab 50257,
// n_embd 1024, 24 layers, 16 heads, n_inner 4096, n_positions 1024, Conv1D weights): frozen bytes per parameter with
// NF4 storage (the whole model, and the Conv1D projections alone: wte / wpe / LayerNorms stay fp32), LoRA training
// tokens/s (r 16 on c_attn, c_proj, c_fc) and greedy generation tokens/s (batch 1, KV cache, the batched decoder).
// Run: `npx tsx bench/gpt2.bench.ts`. Env: BENCH_GPT2_LAYERS (24), BENCH_SEQ (256), BENCH_BATCH (2), BENCH_STEPS (2),
// BENCH_GEN (32 new tokens), BENCH_COMPUTE (bf16 where the CPU has native bf16 matmuls, else fp32), BENCH_THREADS.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initModel, type LlamaShape } from '../src/engine/init-model.ts';
import { loadModel } from '../src/engine/index.ts';
import { nativeEngine } from '../src/engine/native.ts';
import { benchTrainAndGenerate } from './lib/family-bench.ts';
import { cpuFlags, emitJson, loadAverage, round } from './lib/system.ts';

const LAYERS = Number(process.env.BENCH_GPT2_LAYERS ?? 24);
const SEQ = Number(process.env.BENCH_SEQ ?? 256);
const BATCH = Number(process.env.BENCH_BATCH ?? 2);
const STEPS = Number(process.env.BENCH_STEPS ?? 2);
const GEN = Number(process.env.BENCH_GEN ?? 32);
const RANK = 16;

/** microsoft/DialoGPT-medium's config.json, as an init shape. */
export const DIALOGPT_MEDIUM_SHAPE: Readonly<LlamaShape> = Object.freeze({
  modelType: 'gpt2',
  vocabSize: 50257,
  hiddenSize: 1024,
  intermediateSize: 4096,
  numLayers: 24,
  numHeads: 16,
  maxPositionEmbeddings: 1024,
});

async function main(): Promise<void> {
  const ne = nativeEngine();
  if (process.env.BENCH_THREADS) ne.setThreads(Number(process.env.BENCH_THREADS));
  const compute = (process.env.BENCH_COMPUTE ?? (ne.engineCaps().bf16Native ? 'bf16' : 'fp32')) as 'bf16' | 'fp32';
  const shape = { ...DIALOGPT_MEDIUM_SHAPE, numLayers: LAYERS };
  const dir = mkdtempSync(join(tmpdir(), 'peftmake-bench-gpt2-'));
  try {
    const t0 = performance.now();
    const init = initModel(dir, { ...shape, seed: 0, tokenizer: 'none' });
    const initSecs = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    const m = await loadModel({ dir, quant: 'nf4', compute });
    const loadSecs = (performance.now() - t1) / 1000;
    const { hiddenSize: E, intermediateSize: I, vocabSize: V, maxPositionEmbeddings: P } = shape as Required<LlamaShape>;
    const convParams = LAYERS * (E * 3 * E + E * E + E * I + I * E);
    const otherParams = m.info.params - convParams; // wte, wpe, LayerNorm weights and biases: kept fp32
    const convBytes = m.info.frozenBytes - otherParams * 4; // NF4 blocks + their scales + the Conv1D biases
    const common = { model: `DialoGPT-medium shape (random init, ${LAYERS} of 24 layers)`, compute, cpu_flags: cpuFlags(), load_average: loadAverage() };
    emitJson({
      bench: 'gpt2-memory',
      ...common,
      params: init.numParams,
      frozen_bytes_nf4: m.info.frozenBytes,
      bytes_per_param_nf4: round(m.info.frozenBytes / m.info.params, 4),
      conv1d_params: convParams,
      conv1d_bytes_per_param_nf4: round(convBytes / convParams, 4),
      fp32_bytes_per_param: 4,
      embedding_params_fp32: V * E + P * E,
      init_seconds: round(initSecs, 1),
      load_seconds: round(loadSecs, 1),
    });

    await benchTrainAndGenerate({
      prefix: 'gpt2',
      model: m,
      vocab: V,
      rank: RANK,
      seq: SEQ,
      batch: BATCH,
      steps: STEPS,
      newTokens: GEN,
      recompute: true,
      common,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
