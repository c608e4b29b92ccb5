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
import { loadModel, train, type MicroBatch } from '../src/engine/index.ts';
import { nativeEngine } from '../src/engine/native.ts';
import { cpuFlags, emitJson, loadAverage, peakRssMb, round } from './lib/system.ts';

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

    const adapter = await m.createAdapter({ r: RANK, alpha: 32, targets: 'all-linear', seed: 0 });
    let s = 1;
    const rnd = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % V;
    const batches: MicroBatch[] = Array.from({ length: STEPS + 1 }, () => {
      const ids = Array.from({ length: BATCH }, () => Array.from({ length: SEQ }, rnd));
      return { inputIds: ids, labels: ids };
    });
    const res = await train({ model: m, adapter, batches, steps: STEPS + 1, lr: 1e-4, recompute: true }); // step 0 warms up
    const timed = res.records.slice(1);
    const stepSecs = timed.reduce((a, r) => a + r.seconds, 0) / timed.length;
    emitJson({
      bench: 'gpt2-train',
      ...common,
      quant: 'nf4',
      rank: RANK,
      targets: adapter.config.targets,
      lora_params: ne.adapterInfo(adapter.handle).params,
      seq: SEQ,
      batch: BATCH,
      steps: STEPS,
      step_seconds: round(stepSecs, 3),
      tokens_per_s: round((SEQ * BATCH) / stepSecs, 1),
      final_loss: round(timed[timed.length - 1].microLosses[0], 4),
      peak_rss_mb: peakRssMb(),
    });

    const prompt = Array.from({ length: 16 }, (_, i) => 3 + i);
    await m.generate(prompt, { maxTokens: 2, eos: [] }); // warm-up
    const t2 = performance.now();
    const out = await m.generate(prompt, { maxTokens: GEN, eos: [] }, [{ adapter }]);
    const genSecs = (performance.now() - t2) / 1000;
    emitJson({
      bench: 'gpt2-generate',
      ...common,
      quant: 'nf4',
      prompt_tokens: prompt.length,
      new_tokens: out.length,
      with_adapter: true,
      seconds: round(genSecs, 3),
      tokens_per_s: round(out.length / genSecs, 2),
      peak_rss_mb: peakRssMb(),
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
