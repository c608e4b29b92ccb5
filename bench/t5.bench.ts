// `npm run bench t5`: a FLAN-T5-base-shaped model (random init, 248M params: d_model 768, 12 + 12 layers, 12 heads,
// d_ff 2048, vocab 32128, untied head) with an NF4 base: bytes per parameter (all, and the frozen linears alone), LoRA
// seq2seq training tokens/s (r 16 on q, v; batch of 4 pairs, 64 source + 32 target tokens) and batch-1 generation
// tokens/s (64-token source, 32 new tokens, greedy, encoder once + KV caches). No peer in this file: transformers'
// T5 on this machine's Debian torch is the intended one (not wired yet). Env: BENCH_THREADS, BENCH_T5_STEPS (default 2).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FLAN_T5_BASE_SHAPE, initT5Model } from '../src/engine/init-t5.ts';
import { nativeEngine } from '../src/engine/native.ts';
import { T5Trainer, loadT5Model } from '../src/engine/t5.ts';
import { cpuFlags, emitJson, loadAverage, peakRssMb, round } from './lib/system.ts';

async function main(): Promise<void> {
  const ne = nativeEngine();
  if (process.env.BENCH_THREADS) ne.setThreads(Number(process.env.BENCH_THREADS));
  const steps = Number(process.env.BENCH_T5_STEPS ?? 2);
  const dir = mkdtempSync(join(tmpdir(), 'peft-bench-t5-'));
  try {
    const t0 = performance.now();
    const { numParams } = initT5Model(dir, { ...FLAN_T5_BASE_SHAPE, seed: 0, tokenizer: 'none' });
    const initS = (performance.now() - t0) / 1000;
    const m = await loadT5Model({ dir, quant: 'nf4', compute: 'fp32' });
    const V = m.info.vocabSize;
    const D = m.info.dModel;
    const embedParams = V * D * (m.info.tieWordEmbeddings ? 1 : 2);
    const i = m.info;
    const fp32Params = embedParams + (i.numLayers * 2 + i.numDecoderLayers * 3 + 2) * D + 2 * i.relativeAttentionNumBuckets * i.numHeads; // embeddings, norms, bias tables
    const linearParams = i.params - fp32Params;
    const rnd = (n: number, k: number) => Int32Array.from({ length: n }, (_, i) => 3 + ((i * 7919 + k * 104729) % (V - 3)));
    const example = (k: number) => {
      const tgt = rnd(32, k + 100);
      return { enc: rnd(64, k), dec: Int32Array.from([0, ...tgt.slice(0, -1)]), labels: tgt };
    };
    const adapter = await m.createAdapter({ r: 16, alpha: 32, targets: ['q', 'v'], seed: 0 });
    const tr = new T5Trainer(m, adapter);
    const batch = [[example(0), example(1), example(2), example(3)]];
    await tr.step([batch], [1e-4]); // warm-up
    const t1 = performance.now();
    const res = await tr.step(
      Array.from({ length: steps }, () => batch),
      Array.from({ length: steps }, () => 1e-4),
    );
    const trainS = (performance.now() - t1) / 1000;
    const targetTokens = res.reduce((s, r) => s + r.tokens, 0);
    const enc = rnd(64, 7);
    await m.generate(enc, { maxTokens: 2, eos: [] });
    const t2 = performance.now();
    const gen = await m.generate(enc, { maxTokens: 32, eos: [] }, [{ adapter }]);
    const genS = (performance.now() - t2) / 1000;
    emitJson({
      bench: 't5-flan-base-shape',
      model: 'FLAN-T5-base shape (random init)',
      params: numParams,
      quant: 'nf4',
      compute: 'fp32',
      frozen_bytes: m.info.frozenBytes,
      nf4_bytes_per_param: round(m.info.frozenBytes / m.info.params, 4),
      // the embedding and lm_head stay fp32 (4 bytes each); the frozen linears are NF4 with double quantisation
      nf4_bytes_per_linear_param: round((m.info.frozenBytes - fp32Params * 4) / linearParams, 4),
      lora: 'r16 q,v (self + cross attention)',
      train_steps: steps,
      train_target_tokens_per_s: round(targetTokens / trainS, 2),
      train_tokens_per_s_enc_plus_dec: round((steps * 4 * (64 + 32)) / trainS, 2),
      train_loss_first: round(res[0].loss, 4),
      generate_tokens_per_s: round(gen.length / genS, 2),
      init_seconds: round(initS, 1),
      peak_rss_mb: peakRssMb(),
      threads: ne.engineCaps().threads,
      cpu_flags: cpuFlags(),
      load_average: loadAverage(),
      peer: null,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
