// Trains one `adapters.<name>` stage over a T5 (encoder-decoder) base: seq2seq LoRA on the dataset's records (the
// encoder reads `enc`, the decoder `ids[:-1]`, labels `labels[1:]`), the `on` adapters frozen beneath, AdamW with the
// stage's schedule and clipping, validation loss; writes the PEFT adapter (task_type SEQ_2_SEQ_LM), adapter.json,
// metrics.json, train_log.jsonl and valid_log.json. LoRA dropout on the trainable adapter's input while it trains;
// checkpoints every checkpointEvery steps in ctx.resumeDir (t5-checkpoint.ts), from which an interrupted run resumes.
import { writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { lrAt, nativeEngine } from '../../src/engine/index.ts';
import { type T5Example, type T5Model, T5Trainer, loadT5Model } from '../../src/engine/t5.ts';
import { ENGINE_VERSION } from '../../src/engine/version.ts';
import { PeftError } from '../../src/errors.ts';
import { readPromptFile } from '../../src/hf/prompt-format.ts';
import type { RunContext, RunResult } from '../../src/stage.ts';
import { portablePath } from '../../src/util/portable-path.ts';
import { ADAPTER_META, type AdapterMeta, frozenStackFor, modelDirFor, upstreamOf } from '../shared/adapter-artifact.ts';
import { type TokenRecord, readTokenRecords, shuffled } from '../shared/token-records.ts';
import { type TrainStageConfig, trainDefaults } from './adapter-stage.ts';
import { findT5Checkpoint, saveT5Checkpoint } from './t5-checkpoint.ts';

/** A dataset record of a seq2seq dataset as an engine example (inputs cut to seqLen). */
export function t5Example(r: TokenRecord, seqLen: number, file: string): T5Example {
  const enc = r.enc as number[] | undefined;
  if (!Array.isArray(enc) || r.ids.length < 2)
    throw new PeftError('E_DATA', `${file}: a record has no "enc" ids: the dataset was built for a causal model, not this t5 model`, {
      file,
      hint: 'point the dataset at the t5 model (its `model`) and rebuild it',
    });
  return {
    enc: Int32Array.from(enc.slice(0, seqLen)),
    dec: Int32Array.from(r.ids.slice(0, -1).slice(0, seqLen)),
    labels: Int32Array.from(r.labels.slice(1).slice(0, seqLen)),
  };
}

/** Mean loss per target token of examples under the trainer's adapters. */
export async function t5MeanLoss(trainer: T5Trainer, xs: T5Example[]): Promise<number | null> {
  if (xs.length === 0) return null;
  const r = await trainer.eval(xs);
  return r.tokens ? r.lossSum / r.tokens : null;
}

export async function runT5AdapterStage(ctx: RunContext<TrainStageConfig>): Promise<RunResult> {
  const t0 = Date.now();
  const c = trainDefaults(ctx.config);
  const modelArt = upstreamOf(ctx, `models.${c.base}`);
  const dataArt = upstreamOf(ctx, `datasets.${c.data}`);
  const modelDir = modelDirFor(ctx, c.base);
  const trainFile = join(dataArt.dir, 'train.jsonl');
  const train = readTokenRecords(trainFile).map((r) => t5Example(r, c.seqLen, trainFile));
  const validFile = join(dataArt.dir, 'valid.jsonl');
  const valid = readTokenRecords(validFile).map((r) => t5Example(r, c.seqLen, validFile));
  if (train.length === 0) throw new PeftError('E_DATA', `${ctx.name}: datasets.${c.data} has no training records (${trainFile})`);
  const format = ((ctx.pipeline.datasets as Record<string, { format?: string }> | undefined)?.[c.data]?.format ?? 'text') as string;

  const model: T5Model = await loadT5Model({ dir: modelDir, quant: c.quant, compute: c.compute });
  const caps = nativeEngine().engineCaps();
  const engine = {
    compute: model.info.compute,
    quant: c.quant,
    kernels: 't5: fp32 reference attention and gated-GELU (t5/t5_ops.cc); projections through FrozenLinear',
    backend: caps.backend,
    threads: caps.threads,
    version: ENGINE_VERSION,
  };
  if (c.gradientCheckpointing) ctx.log(`${ctx.name}: gradientCheckpointing does not apply to t5 models (activations are kept per sequence pair)`);
  const stack = frozenStackFor(ctx, c.on);
  const frozen = [];
  for (const e of stack) frozen.push({ adapter: await model.loadAdapter(e.dir, e.name), weight: 1 });
  const lora = c.lora;
  const fresh = await model.createAdapter({ ...lora, seed: c.seed, name: ctx.name });
  // Resume state: atomic checkpoints in ctx.resumeDir/checkpoints (kept across an interrupted run of the same key).
  const key = ctx.key ?? basename(ctx.resumeDir);
  const ckptRoot = join(ctx.resumeDir, 'checkpoints');
  const resume = await findT5Checkpoint(ckptRoot, key, model, fresh, (line) => ctx.log(`${ctx.name}: ${line}`));
  const adapter = resume?.adapter ?? fresh;
  const trainer = new T5Trainer(model, adapter, frozen, { maxGradNorm: c.maxGradNorm, weightDecay: c.weightDecay, dropout: lora.dropout, seed: c.seed });
  if (resume) await trainer.loadState(resume.optimizer);

  const G = c.gradAccum;
  const perEpoch = Math.ceil(train.length / c.batchSize);
  const steps = c.maxSteps > 0 ? c.maxSteps : Math.max(1, Math.ceil((c.epochs * perEpoch) / G));
  // The example stream: each epoch a fresh seeded shuffle.
  let epoch = 0;
  let order: T5Example[] = [];
  let consumed = 0;
  const next = (): T5Example => {
    if (order.length === 0) order = shuffled(train, c.seed + epoch++);
    consumed++;
    return order.shift()!;
  };
  const trainLog: string[] = resume?.trainLog ?? [];
  const validLog: { step: number; loss: number }[] = resume?.validLog ?? [];
  const startStep = resume?.state.step ?? 0;
  if (resume) {
    for (let i = 0; i < resume.state.consumed; i++) next(); // the example stream where the checkpoint left it
    ctx.log(`${ctx.name}: resuming from the checkpoint at step ${startStep}/${steps}`);
  }
  const CHUNK = 5; // steps per engine call: progress and cancellation between calls
  const every = c.checkpointEvery > 0 ? c.checkpointEvery : steps;
  for (let done = startStep; done < steps; ) {
    if (ctx.signal?.aborted) throw new PeftError('E_CANCELLED', `${ctx.name}: training cancelled`);
    const n = Math.min(CHUNK, steps - done, every - (done % every));
    const batch: T5Example[][][] = [];
    const lrs: number[] = [];
    for (let s = 0; s < n; s++) {
      batch.push(Array.from({ length: G }, () => Array.from({ length: c.batchSize }, next)));
      lrs.push(lrAt(c.schedule, c.lr, done + s, steps, c.warmup));
    }
    const t1 = Date.now();
    const res = await trainer.step(batch, lrs);
    const secs = (Date.now() - t1) / 1000 / n;
    res.forEach((r, i) =>
      trainLog.push(
        JSON.stringify({
          step: done + i + 1,
          loss: r.loss,
          lr: lrs[i],
          grad_norm: r.gradNorm,
          clipped: r.clipCoef < 1,
          tokens: r.tokens,
          seconds: secs,
          compute: engine.compute,
        }),
      ),
    );
    done += n;
    const last = res[res.length - 1];
    ctx.progress({ step: done, total: steps, unit: 'step', message: `loss ${last.loss.toFixed(4)}`, metrics: { loss: last.loss, lr: lrs[lrs.length - 1] } });
    if (c.evalEvery > 0 && valid.length && done < steps && Math.floor(done / c.evalEvery) > Math.floor((done - n) / c.evalEvery)) {
      const loss = (await t5MeanLoss(trainer, valid))!;
      validLog.push({ step: done, loss });
    }
    if (c.checkpointEvery > 0 && done % c.checkpointEvery === 0 && done < steps)
      await saveT5Checkpoint(ckptRoot, key, trainer, { step: done, consumed }, { trainLog, validLog });
  }
  const validLoss = await t5MeanLoss(trainer, valid);
  if (validLoss !== null) validLog.push({ step: steps, loss: validLoss });

  const baseLabel = portablePath(ctx.projectDir, modelDir);
  await adapter.save(ctx.outDir, modelArt.manifest?.resolved?.hub ? String(modelArt.manifest.resolved.hub) : baseLabel);
  writeFileSync(join(ctx.outDir, 'train_log.jsonl'), `${trainLog.join('\n')}\n`);
  writeFileSync(join(ctx.outDir, 'valid_log.json'), `${JSON.stringify(validLog, null, 1)}\n`);
  const log = trainLog.map((l) => JSON.parse(l) as { loss: number; tokens: number });
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
    train_records: train.length,
    valid_records: valid.length,
    seconds,
    resumed_from_step: startStep,
    compute: engine.compute,
  };
  const prompt = readPromptFile(dataArt.dir);
  const meta: AdapterMeta = {
    name: ctx.name.replace(/^adapters\./, ''),
    base: { name: c.base, key: modelArt.key, modelDir: baseLabel },
    data: { name: c.data, key: dataArt.key, format },
    stack: stack.map(({ name, key }) => ({ name, key })),
    objective: 'seq2seq',
    ...(prompt ? { prompt } : {}),
    params: { ...c, lora, on: c.on },
    engine,
  };
  writeFileSync(join(ctx.outDir, ADAPTER_META), `${JSON.stringify(meta, null, 2)}\n`);
  writeFileSync(join(ctx.outDir, 'metrics.json'), `${JSON.stringify(metrics, null, 2)}\n`);
  const v = validLoss === null ? '' : `, valid loss ${validLoss.toFixed(4)} (ppl ${Math.exp(validLoss).toFixed(2)})`;
  return { metrics, summary: `t5 seq2seq: ${steps} steps, train loss ${trainLoss.toFixed(4)}${v}, ${tokensSeen} tokens in ${seconds.toFixed(1)}s` };
}
