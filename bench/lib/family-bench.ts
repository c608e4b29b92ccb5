// The training and generation lines every model-family bench prints (gpt2, moe): LoRA on all-linear over seeded random
// ids, one warm-up step then `steps` timed ones, and greedy generation with the adapter (batch 1, KV cache).
import type { EngineModel } from '../../src/engine/index.ts';
import { train, type MicroBatch } from '../../src/engine/index.ts';
import { nativeEngine } from '../../src/engine/native.ts';
import { emitJson, peakRssMb, round } from './system.ts';

export interface FamilyRun {
  /** Line name prefix: `<prefix>-train`, `<prefix>-generate`. */
  prefix: string;
  model: EngineModel;
  vocab: number;
  rank: number;
  seq: number;
  batch: number;
  steps: number;
  newTokens: number;
  recompute?: boolean;
  /** Fields every line repeats (model, compute, cpu flags, load average). */
  common: Record<string, unknown>;
}

export async function benchTrainAndGenerate(o: FamilyRun): Promise<void> {
  const ne = nativeEngine();
  const m = o.model;
  const adapter = await m.createAdapter({ r: o.rank, alpha: 2 * o.rank, targets: 'all-linear', seed: 0 });
  let s = 1;
  const rnd = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % o.vocab;
  const batches: MicroBatch[] = Array.from({ length: o.steps + 1 }, () => {
    const ids = Array.from({ length: o.batch }, () => Array.from({ length: o.seq }, rnd));
    return { inputIds: ids, labels: ids };
  });
  const res = await train({ model: m, adapter, batches, steps: o.steps + 1, lr: 1e-4, ...(o.recompute ? { recompute: true } : {}) }); // step 0 warms up
  const timed = res.records.slice(1);
  const stepSecs = timed.reduce((a, r) => a + r.seconds, 0) / timed.length;
  emitJson({
    bench: `${o.prefix}-train`,
    ...o.common,
    quant: 'nf4',
    rank: o.rank,
    targets: adapter.config.targets,
    lora_params: ne.adapterInfo(adapter.handle).params,
    seq: o.seq,
    batch: o.batch,
    steps: o.steps,
    step_seconds: round(stepSecs, 3),
    tokens_per_s: round((o.seq * o.batch) / stepSecs, 1),
    final_loss: round(timed[timed.length - 1].microLosses[0], 4),
    peak_rss_mb: peakRssMb(),
  });

  const prompt = Array.from({ length: 16 }, (_, i) => 3 + i);
  await m.generate(prompt, { maxTokens: 2, eos: [] }); // warm-up
  const t = performance.now();
  const out = await m.generate(prompt, { maxTokens: o.newTokens, eos: [] }, [{ adapter }]);
  const secs = (performance.now() - t) / 1000;
  emitJson({
    bench: `${o.prefix}-generate`,
    ...o.common,
    quant: 'nf4',
    prompt_tokens: prompt.length,
    new_tokens: out.length,
    with_adapter: true,
    seconds: round(secs, 3),
    tokens_per_s: round(out.length / secs, 2),
    peak_rss_mb: peakRssMb(),
  });
}
