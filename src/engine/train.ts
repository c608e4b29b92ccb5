// LoRA training through the native engine: micro-batches in order (G per optimizer step), lr schedule with
// warmup, progress and AbortSignal cancellation, checkpoints (adapter + optimizer + step + data position) and an
// exact resume. The native side runs the steps off the JS thread.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PeftError } from '../errors.ts';
import { call, nativeEngine, type Handle, type NativeProgress, type NativeStepRecord } from './native.ts';
import { EngineAdapter, type EngineModel, refs, type AdapterUse } from './model.ts';
import { lrAt, type ScheduleKind } from './schedule.ts';
import { writeCheckpoint } from './checkpoint.ts';
import { faultPoint } from '../util/fault.ts';
import { mulberry32 } from '../util/random.ts';

export interface MicroBatch {
  inputIds: number[][]; // [B][T]
  labels: number[][]; // [B][T], -100 = no loss at that position
  /** Real tokens of each row [B] when rows are right-padded (the attention mask: padding does not count in the MoE
   * router load-balancing loss); absent: every position is a real token. */
  lengths?: number[];
}

export interface TrainOptions {
  model: EngineModel;
  adapter: EngineAdapter; // the trainable adapter (ignored when resuming: the checkpoint's adapter is used)
  frozen?: AdapterUse[]; // frozen adapters stacked under it
  weight?: number; // multiplier of the trainable adapter's scaling
  batches: MicroBatch[]; // consumed in order, gradAccum per step, cycling when exhausted
  steps: number;
  gradAccum?: number;
  lr: number;
  schedule?: ScheduleKind | ((step: number) => number); // a function gets the 0-based step and returns the lr
  warmupSteps?: number;
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  maxGradNorm?: number; // 0 = no clipping
  /** 'mean' (default, HF Trainer / PEFT reference): mean of micro-batch means. 'token': every target token weighs the same. */
  accumulation?: 'mean' | 'token';
  recompute?: boolean;
  /** With `recompute`: the leading layers keep their forward activations (no recomputation) while the activation
   * arena fits in this many bytes; 0 (default) recomputes every layer but the last. */
  activationBudgetBytes?: number;
  dropout?: number;
  seed?: number;
  /** MoE: weight of the router load-balancing loss added to the training loss (records then carry `auxLoss`); default
   * the model config's (router_aux_loss_coef when output_router_logits is true, as transformers; else 0 = off). */
  routerAuxLossCoef?: number;
  /**
   * Checkpoints every `every` steps as atomic step-<n>/ folders under `dir` (see checkpoint.ts), stamped with `key`.
   * `extra` returns more files for the same checkpoint (the caller's logs; it may evaluate with the trainer first).
   */
  checkpoint?: {
    dir: string;
    every: number;
    key?: string;
    extra?: (trainer: Handle, step: number, records: NativeStepRecord[]) => Promise<Record<string, string>>;
  };
  /** With `checkpoint`: when the signal aborts (SIGTERM of a cluster job), stop at the step reached and write a
   * checkpoint there (steps then run one engine call each, so every finished step is known). */
  checkpointOnAbort?: boolean;
  resumeFrom?: string; // a checkpoint folder (step-<n>/) written by `checkpoint`
}

/** Training stopped by the signal; with `checkpointOnAbort`, a checkpoint at `step` holds the `records` run before. */
export class TrainingInterrupted extends PeftError {
  constructor(
    readonly step: number,
    readonly records: NativeStepRecord[],
    readonly checkpointed: boolean,
  ) {
    super('E_CANCELLED', `training cancelled at step ${step}${checkpointed ? ' (checkpoint written there)' : ''}`);
  }
}

export interface TrainHooks {
  onProgress?: (p: NativeProgress & { steps: number }) => void;
  signal?: AbortSignal;
}

export interface TrainResult {
  records: NativeStepRecord[];
  adapter: EngineAdapter;
  trainer: Handle;
  stepsDone: number;
  /** The last checkpoint this call wrote, if any. */
  checkpointDir?: string;
}

interface TrainerState {
  step: number;
  dataPosition: number; // micro-batches consumed
  seed: number;
  accumulation: string;
}

function flatten(batches: MicroBatch[], start: number, count: number): { ids: Int32Array; labels: Int32Array; lengths?: Int32Array; B: number; T: number } {
  const first = batches[start % batches.length]; // one chunk shares B and T; chunks may differ (padding per chunk)
  const B = first.inputIds.length;
  const T = first.inputIds[0]?.length ?? 0;
  const ids = new Int32Array(count * B * T);
  const labels = new Int32Array(count * B * T);
  const lengths = first.lengths ? new Int32Array(count * B) : undefined;
  for (let k = 0; k < count; k++) {
    const mb = batches[(start + k) % batches.length];
    if (lengths) {
      if (mb.lengths?.length !== B)
        throw new PeftError('E_ENGINE', `micro-batch ${(start + k) % batches.length} has no row lengths (all micro-batches must have them, or none)`);
      lengths.set(mb.lengths, k * B);
    }
    if (mb.inputIds.length !== B || mb.labels.length !== B)
      throw new PeftError('E_ENGINE', `micro-batch ${(start + k) % batches.length} has ${mb.inputIds.length} rows; all must have ${B}`);
    for (let b = 0; b < B; b++) {
      if (mb.inputIds[b].length !== T || mb.labels[b].length !== T)
        throw new PeftError('E_ENGINE', `micro-batch ${(start + k) % batches.length} row ${b} is not ${T} tokens long (ids and labels)`);
      ids.set(mb.inputIds[b], (k * B + b) * T);
      labels.set(mb.labels[b], (k * B + b) * T);
    }
  }
  return { ids, labels, lengths, B, T };
}

/** Writes one checkpoint (adapter, optimizer, trainer state and the caller's extra files) as one atomic unit; returns its folder. */
export async function saveCheckpoint(
  root: string,
  trainer: Handle,
  adapter: EngineAdapter,
  state: TrainerState,
  opts: { key?: string; extra?: Record<string, string> } = {},
): Promise<string> {
  return writeCheckpoint(root, { step: state.step, key: opts.key ?? '' }, async (dir) => {
    faultPoint('checkpoint.adapter', join(dir, 'adapter_model.safetensors'));
    await adapter.save(dir);
    faultPoint('checkpoint.optimizer', join(dir, 'optimizer.safetensors'));
    await call(() => nativeEngine().trainerSaveState(trainer, join(dir, 'optimizer.safetensors')));
    faultPoint('checkpoint.state', join(dir, 'trainer_state.json'));
    writeFileSync(join(dir, 'trainer_state.json'), JSON.stringify(state, null, 2) + '\n');
    for (const [name, text] of Object.entries(opts.extra ?? {})) {
      faultPoint('checkpoint.extra', join(dir, name));
      writeFileSync(join(dir, name), text);
    }
  });
}

export async function train(opts: TrainOptions, hooks: TrainHooks = {}): Promise<TrainResult> {
  const G = opts.gradAccum ?? 1;
  if (!Number.isInteger(opts.steps) || opts.steps < 0) throw new PeftError('E_ENGINE', `steps must be a non-negative integer, got ${opts.steps}`);
  if (!Number.isInteger(G) || G < 1) throw new PeftError('E_ENGINE', `gradAccum must be a positive integer, got ${G}`);
  if (opts.batches.length === 0) throw new PeftError('E_ENGINE', 'no training micro-batches');
  const engine = nativeEngine();
  let adapter = opts.adapter;
  let state: TrainerState = { step: 0, dataPosition: 0, seed: opts.seed ?? 0, accumulation: opts.accumulation ?? 'mean' };
  if (opts.resumeFrom) {
    const sf = join(opts.resumeFrom, 'trainer_state.json');
    if (!existsSync(sf)) throw new PeftError('E_ENGINE', `${opts.resumeFrom}: no trainer_state.json (not a checkpoint)`, { file: sf });
    state = JSON.parse(readFileSync(sf, 'utf8')) as TrainerState;
    adapter = await opts.model.loadAdapter(opts.resumeFrom, opts.adapter.name);
  }
  const trainer = await call(() =>
    engine.createTrainer(opts.model.handle, adapter.handle, refs(opts.frozen ?? []), {
      weightDecay: opts.weightDecay ?? 0,
      beta1: opts.beta1 ?? 0.9,
      beta2: opts.beta2 ?? 0.999,
      eps: opts.eps ?? 1e-8,
      maxGradNorm: opts.maxGradNorm ?? 0,
      tokenWeighted: (opts.accumulation ?? 'mean') === 'token',
      recompute: opts.recompute ?? false,
      activationBudgetBytes: opts.activationBudgetBytes ?? 0,
      dropout: opts.dropout ?? adapter.config.dropout ?? 0,
      seed: state.seed,
      weight: opts.weight ?? 1,
      ...(opts.routerAuxLossCoef === undefined ? {} : { routerAuxLossCoef: opts.routerAuxLossCoef }),
    }),
  );
  if (opts.resumeFrom) await call(() => engine.trainerLoadState(trainer, join(opts.resumeFrom!, 'optimizer.safetensors')));
  const lrOf = (k: number): number =>
    typeof opts.schedule === 'function' ? opts.schedule(k) : lrAt(opts.schedule ?? 'constant', opts.lr, k, opts.steps, opts.warmupSteps ?? 0);
  const records: NativeStepRecord[] = [];
  const onAbort = () => engine.trainerCancel(trainer);
  hooks.signal?.addEventListener('abort', onAbort);
  const stepwise = Boolean(opts.checkpointOnAbort && opts.checkpoint);
  let saved = state.step; // the step the checkpoint on disk (or the start) is at
  let checkpointDir: string | undefined;
  const checkpointNow = async (): Promise<void> => {
    const ck = opts.checkpoint!;
    const extra = ck.extra ? await ck.extra(trainer, state.step, records) : undefined;
    checkpointDir = await saveCheckpoint(ck.dir, trainer, new EngineAdapter(engine.trainerAdapter(trainer), adapter.config, adapter.name), state, {
      key: ck.key,
      extra,
    });
    saved = state.step;
  };
  const interrupted = async (): Promise<never> => {
    const write = stepwise && state.step > saved;
    if (write) await checkpointNow();
    throw new TrainingInterrupted(state.step, records, write);
  };
  try {
    while (state.step < opts.steps) {
      if (hooks.signal?.aborted) await interrupted();
      const every = opts.checkpoint?.every ?? opts.steps;
      const chunk = stepwise ? 1 : Math.min(opts.steps - state.step, every - (state.step % every));
      const { ids, labels, lengths, B, T } = flatten(opts.batches, state.dataPosition, chunk * G);
      const lrs = Float64Array.from({ length: chunk }, (_, i) => lrOf(state.step + i));
      let recs: NativeStepRecord[];
      try {
        recs = await call(() =>
          engine.trainerRun(trainer, { ids, labels, ...(lengths ? { lengths } : {}), steps: chunk, micro: G, batch: B, seqLen: T, lrs }, (p) =>
            hooks.onProgress?.({ ...p, steps: opts.steps }),
          ),
        );
      } catch (e) {
        if (stepwise && hooks.signal?.aborted && (e as PeftError).code === 'E_CANCELLED') await interrupted(); // cancelled before its one step
        throw e;
      }
      records.push(...recs);
      state = { ...state, step: state.step + chunk, dataPosition: (state.dataPosition + chunk * G) % opts.batches.length };
      if (opts.checkpoint && state.step % opts.checkpoint.every === 0) await checkpointNow();
    }
  } finally {
    hooks.signal?.removeEventListener('abort', onAbort);
  }
  const trained = new EngineAdapter(engine.trainerAdapter(trainer), adapter.config, adapter.name);
  return { records, adapter: trained, trainer, stepsDone: state.step, checkpointDir };
}

/** Mean loss of each micro-batch under the trainer's current adapter (no update). */
export async function evalLoss(trainer: Handle, batches: MicroBatch[]): Promise<number[]> {
  const { ids, labels, B, T } = flatten(batches, 0, batches.length);
  return call(() => nativeEngine().trainerEval(trainer, { ids, labels, micro: batches.length, batch: B, seqLen: T }));
}

/** Packs tokenized documents (each with its BOS) into rows of seqLen and micro-batches of batchSize, shuffled by seed. */
export function packCausalLM(docs: number[][], seqLen: number, batchSize: number, seed = 0): MicroBatch[] {
  const stream = docs.flat();
  const rows: number[][] = [];
  for (let i = 0; i + seqLen <= stream.length; i += seqLen) rows.push(stream.slice(i, i + seqLen));
  const rand = mulberry32(seed);
  for (let i = rows.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [rows[i], rows[j]] = [rows[j], rows[i]];
  }
  const out: MicroBatch[] = [];
  for (let i = 0; i + batchSize <= rows.length; i += batchSize) {
    const ids = rows.slice(i, i + batchSize);
    out.push({ inputIds: ids, labels: ids.map((r) => [...r]) });
  }
  return out;
}
