// Trains one `adapters.<name>` stage: LoRA (QLoRA with nf4) on the dataset artifact's train.jsonl over the base,
// with the `on` adapters frozen beneath; progress, train_log.jsonl, validation loss, resumable checkpoints in
// ctx.resumeDir; writes a PEFT adapter directory plus adapter.json and metrics.json into ctx.outDir.
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { latestCheckpoint } from '../../src/engine/checkpoint.ts';
import { writeFileAtomic } from '../../src/store/atomic.ts';
import { evalLoss, loadModel, lrAt, nativeEngine, train, TrainingInterrupted, type AdapterUse, type ScheduleKind } from '../../src/engine/index.ts';
import { ENGINE_VERSION } from '../../src/engine/version.ts';
import { PeftError } from '../../src/errors.ts';
import type { RunContext, RunResult } from '../../src/stage.ts';
import { readPromptFile } from '../../src/hf/prompt-format.ts';
import { seq2seqModel } from '../../src/hf/model-family.ts';
import { runT5AdapterStage } from './t5-adapter-stage.ts';
import { portablePath } from '../../src/util/portable-path.ts';
import { ADAPTER_META, frozenStackFor, modelDirFor, upstreamOf, type AdapterMeta } from '../shared/adapter-artifact.ts';
import { batchesPerEpoch, checkRecordVocab, lossTokens, readTokenRecords, trainBatches, validBatches, weightedMean } from '../shared/token-records.ts';

export interface TrainStageConfig {
  base: string;
  data: string;
  on?: string[];
  lora?: { r?: number; alpha?: number; dropout?: number; targets?: 'all-linear' | string[]; rslora?: boolean };
  quant?: 'nf4' | 'none';
  compute?: 'auto' | 'bf16' | 'fp32';
  lr?: number;
  warmup?: number;
  schedule?: ScheduleKind;
  epochs?: number;
  maxSteps?: number;
  batchSize?: number;
  gradAccum?: number;
  maxGradNorm?: number;
  weightDecay?: number;
  seqLen?: number;
  seed?: number;
  evalEvery?: number;
  checkpointEvery?: number;
  gradientCheckpointing?: boolean;
  activationBudgetMB?: number;
}

/** The config with every default of the schema filled in (the core normally does this; run() does not rely on it). */
export function trainDefaults(c: TrainStageConfig) {
  const l = c.lora ?? {};
  return {
    base: c.base,
    data: c.data,
    on: c.on ?? [],
    lora: { r: l.r ?? 16, alpha: l.alpha ?? 32, dropout: l.dropout ?? 0.05, targets: l.targets ?? ('all-linear' as const), rslora: l.rslora ?? false },
    quant: c.quant ?? 'nf4',
    compute: c.compute ?? 'auto',
    lr: c.lr ?? 2e-4,
    warmup: c.warmup ?? 10,
    schedule: c.schedule ?? 'cosine',
    epochs: c.epochs ?? 1,
    maxSteps: c.maxSteps ?? 0,
    batchSize: c.batchSize ?? 4,
    gradAccum: c.gradAccum ?? 1,
    maxGradNorm: c.maxGradNorm ?? 1,
    weightDecay: c.weightDecay ?? 0,
    seqLen: c.seqLen ?? 512,
    seed: c.seed ?? 0,
    evalEvery: c.evalEvery ?? 0,
    checkpointEvery: c.checkpointEvery ?? 50,
    gradientCheckpointing: c.gradientCheckpointing ?? false,
    activationBudgetMB: c.activationBudgetMB ?? 0,
  };
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

function fmtEta(s: number): string {
  if (!Number.isFinite(s)) return '?';
  return s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.round(s)}s`;
}

export async function runAdapterStage(ctx: RunContext<TrainStageConfig>): Promise<RunResult> {
  const t0 = Date.now();
  const c = trainDefaults(ctx.config);
  const modelArt = upstreamOf(ctx, `models.${c.base}`);
  const dataArt = upstreamOf(ctx, `datasets.${c.data}`);
  const modelDir = modelDirFor(ctx, c.base);
  if (seq2seqModel(modelDir)) return runT5AdapterStage(ctx); // an encoder-decoder base: seq2seq training
  const train_ = readTokenRecords(join(dataArt.dir, 'train.jsonl'));
  const valid = readTokenRecords(join(dataArt.dir, 'valid.jsonl'));
  if (train_.length === 0)
    throw new PeftError('E_DATA', `${ctx.name}: datasets.${c.data} has no training records (${join(dataArt.dir, 'train.jsonl')})`, {
      hint: 'check the dataset filters',
    });
  const format = ((ctx.pipeline.datasets as Record<string, { format?: string }> | undefined)?.[c.data]?.format ?? 'text') as string;
  const objective = format === 'text' ? 'causal-lm' : 'answer-only';

  const model = await loadModel({ dir: modelDir, quant: c.quant, compute: c.compute });
  const ctxLen = model.info.maxPositionEmbeddings;
  if (model.info.modelType === 'gpt2' && c.seqLen > ctxLen)
    // learned positions: nothing exists past n_positions
    throw new PeftError('E_CONFIG_SEMANTIC', `${ctx.name}: seqLen ${c.seqLen} is longer than the GPT-2 base's context (n_positions ${ctxLen})`, {
      pointer: `/${ctx.name.replace('.', '/')}/seqLen`,
      hint: `set seqLen to at most ${ctxLen}`,
    });
  const dataModel = (ctx.pipeline.datasets as Record<string, { model?: string }> | undefined)?.[c.data]?.model;
  const vocabFix =
    dataModel && dataModel !== c.base
      ? `datasets.${c.data} is tokenized for models.${dataModel}: give it "model": "${c.base}", the adapter's base`
      : `the tokenizer.json of models.${c.base} does not belong to its weights: use the tokenizer saved with them, then build again`;
  checkRecordVocab(join(dataArt.dir, 'train.jsonl'), train_, model.info.vocabSize, `models.${c.base}`, vocabFix);
  checkRecordVocab(join(dataArt.dir, 'valid.jsonl'), valid, model.info.vocabSize, `models.${c.base}`, vocabFix);
  const padId = model.info.eosTokenIds[0] ?? 0;
  const caps = nativeEngine().engineCaps();
  const engine = {
    compute: model.info.compute,
    quant: c.quant,
    kernels: model.info.kernels,
    backend: caps.backend,
    threads: caps.threads,
    version: ENGINE_VERSION,
  };
  ctx.log(`${ctx.name}: compute ${engine.compute} (asked ${c.compute}), quant ${engine.quant}, ${engine.threads} threads; kernels: ${engine.kernels}`);
  const stack = frozenStackFor(ctx, c.on);
  const frozen: AdapterUse[] = [];
  for (const e of stack) frozen.push({ adapter: await model.loadAdapter(e.dir, e.name), weight: 1 });

  const G = c.gradAccum;
  const perEpoch = batchesPerEpoch(train_.length, c.batchSize);
  const steps = c.maxSteps > 0 ? c.maxSteps : Math.max(1, Math.ceil((c.epochs * perEpoch) / G));
  const segment = c.evalEvery > 0 && c.checkpointEvery > 0 ? gcd(c.evalEvery, c.checkpointEvery) : c.evalEvery || c.checkpointEvery || steps;
  // gradient checkpointing: recompute layer activations in the backward beyond the budget
  const memory = { recompute: c.gradientCheckpointing, activationBudgetBytes: c.activationBudgetMB * 2 ** 20 };
  // One engine call per segment: its micro-batches share a padded length, grouped by length for labeled sets.
  const batches = trainBatches(train_, {
    batchSize: c.batchSize,
    seqLen: c.seqLen,
    padId,
    seed: c.seed,
    count: steps * G,
    groupMicro: segment * G,
    groupByLength: format !== 'text',
  });
  const vb = validBatches(valid, c.seqLen, padId);

  // Resume state: atomic checkpoints in ctx.resumeDir/checkpoints (kept across an interrupted run of the same key),
  // each holding the adapter, optimizer, trainer state and the logs up to its step.
  const key = ctx.key ?? basename(ctx.resumeDir);
  const ckptRoot = join(ctx.resumeDir, 'checkpoints');
  const { found, discarded } = latestCheckpoint(ckptRoot, key);
  for (const d of discarded) ctx.log(`${ctx.name}: discarded checkpoint ${d}`);
  let done = found?.manifest.step ?? 0;
  const trainLog: string[] = found ? readFileSync(join(found.dir, 'train_log.jsonl'), 'utf8').split('\n').filter(Boolean) : [];
  const validLog: { step: number; loss: number }[] = found ? JSON.parse(readFileSync(join(found.dir, 'valid_log.json'), 'utf8')) : [];
  if (found) ctx.log(`${ctx.name}: resuming from the checkpoint at step ${done}/${steps}`);
  else if (discarded.length) ctx.log(`${ctx.name}: no whole checkpoint left; training from step 0`);
  let resumeFrom = found?.dir;

  const adapter = await model.createAdapter({ ...c.lora, seed: c.seed, name: ctx.name });
  const schedule = (k: number) => lrAt(c.schedule, c.lr, k, steps, c.warmup);
  const startStep = done;
  const runStart = Date.now();
  const logLines = (
    from: number,
    records: { loss: number; auxLoss?: number; lr: number; gradNorm: number; clipped: boolean; tokens: number; seconds: number }[],
  ) =>
    records.map((r, i) =>
      JSON.stringify({
        step: from + i + 1,
        loss: r.loss,
        // MoE with the router load-balancing loss on (config output_router_logits): loss includes coef * aux_loss
        ...(r.auxLoss === undefined ? {} : { aux_loss: r.auxLoss }),
        lr: r.lr,
        grad_norm: r.gradNorm,
        clipped: r.clipped,
        tokens: r.tokens,
        seconds: r.seconds,
        compute: engine.compute,
      }),
    );
  let lastTrainer: Awaited<ReturnType<typeof train>> | undefined;
  while (done < steps) {
    const target = Math.min(steps, (Math.floor(done / segment) + 1) * segment);
    const from = done;
    const res = await train(
      {
        model,
        adapter,
        frozen,
        batches,
        steps: target,
        gradAccum: G,
        lr: c.lr,
        schedule,
        maxGradNorm: c.maxGradNorm,
        weightDecay: c.weightDecay,
        dropout: c.lora.dropout,
        seed: c.seed,
        ...memory,
        checkpoint: {
          dir: ckptRoot,
          every: segment,
          key,
          // The validation loss due at this step is computed before the checkpoint, so it is part of it.
          extra: async (trainer, step, records) => {
            if (vb.batches.length > 0 && c.evalEvery > 0 && step % c.evalEvery === 0 && step < steps) {
              const loss = weightedMean(await evalLoss(trainer, vb.batches), vb.weights);
              validLog.push({ step, loss });
              ctx.log(`${ctx.name}: step ${step}/${steps} valid loss ${loss.toFixed(4)}`);
            }
            return { 'train_log.jsonl': [...trainLog, ...logLines(from, records)].join('\n') + '\n', 'valid_log.json': JSON.stringify(validLog) };
          },
        },
        resumeFrom,
        checkpointOnAbort: ctx.checkpointOnAbort,
      },
      {
        signal: ctx.signal,
        onProgress: (p) => {
          const step = p.step;
          const perStep = (Date.now() - runStart) / 1000 / Math.max(1, step - startStep);
          ctx.progress({
            step,
            total: steps,
            unit: 'step',
            message: `loss ${p.loss.toFixed(4)}  ${Math.round(p.tokensPerSec)} tok/s  ETA ${fmtEta((steps - step) * perStep)}`,
            metrics: { loss: p.loss, tokens_per_s: p.tokensPerSec, lr: p.lr, eta_s: (steps - step) * perStep },
          });
        },
      },
    ).catch((e: unknown) => {
      // Stopped by SIGTERM in a cluster job with a checkpoint at the step reached (its logs are in it).
      if (e instanceof TrainingInterrupted && e.checkpointed) ctx.log(`${ctx.name}: checkpoint written at step ${e.step}/${steps}`);
      throw e;
    });
    trainLog.push(...logLines(from, res.records));
    // A live copy for readers of a training under way (the report); resume reads the checkpoint's own log.
    writeFileAtomic(join(ctx.resumeDir, 'train_log.jsonl'), trainLog.join('\n') + '\n');
    done = target;
    lastTrainer = res;
    if (res.checkpointDir) resumeFrom = res.checkpointDir;
  }
  if (!lastTrainer) {
    // Everything was already trained before an interruption: rebuild the trainer from the last checkpoint.
    lastTrainer = await train({ model, adapter, frozen, batches, steps, gradAccum: G, lr: c.lr, schedule, ...memory, resumeFrom });
  }
  const info = nativeEngine().trainerInfo(lastTrainer.trainer); // the training memory plan (before eval replans it)
  let validLoss: number | null = null;
  if (vb.batches.length > 0) {
    validLoss = weightedMean(await evalLoss(lastTrainer.trainer, vb.batches), vb.weights);
    validLog.push({ step: steps, loss: validLoss });
  }

  // Outputs: the PEFT adapter, its metadata, the logs and the metrics.
  // base_model_name_or_path: the hub id, else the model folder project-relative (no absolute path of this machine).
  const baseLabel = portablePath(ctx.projectDir, modelDir);
  await lastTrainer.adapter.save(ctx.outDir, modelArt.manifest?.resolved?.hub ? String(modelArt.manifest.resolved.hub) : baseLabel);
  const log = trainLog.map((l) => JSON.parse(l) as { loss: number; tokens: number });
  writeFileSync(join(ctx.outDir, 'train_log.jsonl'), trainLog.length ? trainLog.join('\n') + '\n' : '');
  writeFileSync(join(ctx.outDir, 'valid_log.json'), JSON.stringify(validLog, null, 1) + '\n');
  const tail = log.slice(-Math.max(1, Math.min(10, Math.ceil(log.length / 10))));
  const trainLoss = tail.reduce((s, r) => s + r.loss, 0) / tail.length;
  const tokensSeen = log.reduce((s, r) => s + r.tokens, 0);
  const seconds = (Date.now() - t0) / 1000;
  const metrics = {
    train_loss: trainLoss,
    first_loss: log[0]?.loss ?? null,
    valid_loss: validLoss,
    perplexity: validLoss === null ? null : Math.exp(validLoss),
    steps,
    tokens_seen: tokensSeen,
    loss_tokens_per_epoch: train_.reduce((s, r) => s + lossTokens(r), 0),
    train_records: train_.length,
    valid_records: valid.length,
    seconds,
    resumed_from_step: startStep,
    compute: engine.compute,
    recomputed_layers: info.recomputedLayers,
    activation_mb: +(info.activationBytes / 2 ** 20).toFixed(1),
  };
  const prompt = readPromptFile(dataArt.dir);
  const meta: AdapterMeta = {
    name: ctx.name.replace(/^adapters\./, ''),
    base: { name: c.base, key: modelArt.key, modelDir: baseLabel },
    data: { name: c.data, key: dataArt.key, format },
    stack: stack.map(({ name, key }) => ({ name, key })),
    objective,
    ...(prompt ? { prompt } : {}),
    params: { ...c, on: c.on },
    engine,
  };
  writeFileSync(join(ctx.outDir, ADAPTER_META), JSON.stringify(meta, null, 2) + '\n');
  writeFileSync(join(ctx.outDir, 'metrics.json'), JSON.stringify(metrics, null, 2) + '\n');
  const v = validLoss === null ? '' : `, valid loss ${validLoss.toFixed(4)} (ppl ${Math.exp(validLoss).toFixed(2)})`;
  return { metrics, summary: `${steps} steps, train loss ${trainLoss.toFixed(4)}${v}, ${tokensSeen} tokens in ${seconds.toFixed(1)}s` };
}
