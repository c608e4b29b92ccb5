// Real model sizes on a 24 GB machine (opt-in: BENCH_BIG=1, minutes): QLoRA training (NF4 base, r 16 on every
// linear, recomputation, batch 1) of a Llama-3.2-3B shape at seq 2048 and a Mistral-7B shape at seq 512, random
// init written as a bf16 checkpoint by `initModel` (streamed in chunks). Each phase runs in its own process so its
// peak RSS is its own: init (seconds, peak RSS), then load + quantise the bf16 checkpoint (bf16 -> NF4 per block from
// the mapping: seconds, RSS after, peak RSS of the load) and the training steps (seconds each, tokens/s of the last),
// peak RSS beside the planned footprint (frozen weights + LoRA weights/grads/moments + the activation arenas).
// Goals: 7B peak RSS <= 8 GB, 3B <= 6 GB. Peak RSS does not depend on the machine's load; tokens/s does: the load
// average before and after is printed beside it.
// Env: BENCH_BIG=1 (run), BENCH_BIG_MODELS ("llama3b,mistral7b"), BENCH_BIG_STEPS (1: the first step; its time
// includes the one-time warm-up of the step), BENCH_BIG_COMPUTE (auto), BENCH_BIG_DIR (where the checkpoints go;
// default the temp dir), BENCH_BIG_KEEP=1 (keep each checkpoint in BENCH_BIG_DIR/<model> and reuse it next run instead
// of deleting it: the init of a 7B takes minutes).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initModel, planModel, SMOLLM2_135M_SHAPE, type LlamaShape } from '../src/engine/init-model.ts';
import { loadModel, train, type MicroBatch } from '../src/engine/index.ts';
import { nativeEngine } from '../src/engine/native.ts';
import { cpuFlags, emitJson, loadAverage, round } from './lib/system.ts';

interface BigModel {
  name: string;
  shape: LlamaShape;
  seq: number;
  goalGb: number;
}

const MODELS: Record<string, BigModel> = {
  // a quick check of the bench itself (not in the default list)
  smollm135m: { name: 'SmolLM2-135M shape', shape: SMOLLM2_135M_SHAPE, seq: 512, goalGb: 1.5 },
  llama3b: {
    name: 'Llama-3.2-3B shape',
    shape: {
      modelType: 'llama',
      vocabSize: 128256,
      hiddenSize: 3072,
      intermediateSize: 8192,
      numLayers: 28,
      numHeads: 24,
      numKvHeads: 8,
      maxPositionEmbeddings: 131072,
      ropeTheta: 500000,
      rmsNormEps: 1e-5,
      tieWordEmbeddings: true,
    },
    seq: 2048,
    goalGb: 6,
  },
  mistral7b: {
    name: 'Mistral-7B shape',
    shape: {
      modelType: 'mistral',
      vocabSize: 32000,
      hiddenSize: 4096,
      intermediateSize: 14336,
      numLayers: 32,
      numHeads: 32,
      numKvHeads: 8,
      maxPositionEmbeddings: 32768,
      ropeTheta: 10000,
      rmsNormEps: 1e-5,
      tieWordEmbeddings: false,
    },
    seq: 512,
    goalGb: 8,
  },
};

const STEPS = Number(process.env.BENCH_BIG_STEPS ?? 1);
const RANK = 16;
const gib = (bytes: number): number => round(bytes / 2 ** 30, 2);
const peakRss = (): number => process.resourceUsage().maxRSS * 1024;
const rssNow = (): number => process.memoryUsage.rss();

/** Child: write the bf16 checkpoint. */
function childInit(key: string, dir: string): void {
  const t = performance.now();
  const r = initModel(dir, { ...MODELS[key].shape, dtype: 'BF16', tokenizer: 'none', seed: 0 });
  emitJson({ phase: 'init', seconds: round((performance.now() - t) / 1000, 1), params: r.numParams, peak_rss_gib: gib(peakRss()) });
}

/** Child: load + quantise, then train. */
async function childTrain(key: string, dir: string): Promise<void> {
  const m = MODELS[key];
  const compute = (process.env.BENCH_BIG_COMPUTE ?? 'auto') as 'auto' | 'fp32' | 'bf16';
  let t = performance.now();
  const model = await loadModel({ dir, quant: 'nf4', compute });
  const loadSeconds = (performance.now() - t) / 1000;
  const afterLoad = rssNow();
  const peakLoad = peakRss();
  const adapter = await model.createAdapter({ r: RANK, alpha: 32, targets: 'all-linear', seed: 0 });
  let s = 7;
  const rnd = (): number => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % m.shape.vocabSize;
  const batches: MicroBatch[] = Array.from({ length: STEPS }, () => {
    const ids = [Array.from({ length: m.seq }, rnd)];
    return { inputIds: ids, labels: ids };
  });
  t = performance.now();
  const res = await train({ model, adapter, batches, steps: STEPS, lr: 1e-4, recompute: true, activationBudgetBytes: 0 });
  const trainSeconds = (performance.now() - t) / 1000;
  const info = nativeEngine().trainerInfo(res.trainer);
  const last = res.records[res.records.length - 1];
  emitJson({
    phase: 'train',
    compute: model.info?.compute ?? compute,
    load_quantise_seconds: round(loadSeconds, 1),
    rss_after_load_gib: gib(afterLoad),
    peak_rss_load_gib: gib(peakLoad),
    step_seconds: res.records.map((r) => round(r.seconds, 1)),
    train_seconds: round(trainSeconds, 1),
    tokens_per_s: round(m.seq / last.seconds, 2),
    loss: res.records.map((r) => round(r.loss, 4)),
    planned_gib: gib(info.frozenBytes + info.loraBytes + info.activationBytes),
    frozen_gib: gib(info.frozenBytes),
    lora_gib: gib(info.loraBytes),
    activation_gib: gib(info.activationBytes),
    recomputed_layers: info.recomputedLayers,
    peak_rss_gib: gib(peakRss()),
  });
}

function runChild(args: string[]): Record<string, unknown> {
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: exited with ${r.status ?? r.signal}: ${r.stderr.slice(-2000)}`);
  const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
  if (!line) throw new Error(`${args.join(' ')}: no result line; stderr: ${r.stderr.slice(-2000)}`);
  return JSON.parse(line) as Record<string, unknown>;
}

const [mode, key, dir] = process.argv.slice(2);
if (mode === '--init') childInit(key, dir);
else if (mode === '--train') await childTrain(key, dir);
else if (process.env.BENCH_BIG !== '1') emitJson({ bench: 'big-models', skipped: 'opt-in: BENCH_BIG=1 (tens of minutes, ~15 GB of disk)' });
else {
  for (const key of (process.env.BENCH_BIG_MODELS ?? 'llama3b,mistral7b').split(',')) {
    const m = MODELS[key];
    if (!m) throw new Error(`unknown model "${key}" (${Object.keys(MODELS).join(', ')})`);
    const keep = process.env.BENCH_BIG_KEEP === '1';
    const base = process.env.BENCH_BIG_DIR ?? tmpdir();
    if (keep) mkdirSync(base, { recursive: true });
    const root = keep ? join(base, key) : mkdtempSync(join(base, `peftmake-bench-${key}-`));
    try {
      const loadBefore = loadAverage();
      const reuse = keep && existsSync(join(root, 'model', 'config.json'));
      const init = reuse ? { seconds: null, peak_rss_gib: null } : runChild(['--init', key, join(root, 'model')]);
      const tr = runChild(['--train', key, join(root, 'model')]);
      emitJson({
        bench: 'big-models',
        model: m.name,
        seq: m.seq,
        batch: 1,
        rank: RANK,
        quant: 'nf4',
        params: planModel(m.shape).numParams,
        checkpoint_reused: reuse,
        init_bf16_seconds: init.seconds,
        init_peak_rss_gib: init.peak_rss_gib,
        ...Object.fromEntries(Object.entries(tr).filter(([k]) => k !== 'phase')),
        goal_peak_rss_gib: m.goalGb,
        goal_met: (tr.peak_rss_gib as number) <= m.goalGb,
        cpu_flags: cpuFlags(),
        loadavg_before: loadBefore,
        loadavg_after: loadAverage(),
      });
    } finally {
      if (!keep) rmSync(root, { recursive: true, force: true });
    }
  }
}
