// The typed engine API of the T5 encoder-decoder (native/src/t5/, its own handle kind): load a T5 model, load / create /
// save SEQ_2_SEQ_LM adapters with PEFT's T5 module names, score decoder ids given encoder ids, generate (encoder once,
// cached decoder), and seq2seq LoRA training steps.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PeftError } from '../errors.ts';
import { ADAPTER_CONFIG, moduleAlphaKeys, peftConfigJson, readAdapterConfig as readLoraConfig, writeAdapterConfigJson } from '../hf/adapter-config.ts';
import { type ModelTokenizer, loadModelTokenizer } from '../hf/tokenizer.ts';
import type { AdapterConfig } from './adapter-files.ts';
import type { ComputeMode, GenerateOptions, Quant } from './model.ts';
import { type Handle, call, nativeEngine } from './native.ts';

/** Every linear layer of a T5 block PEFT can target; `all-linear` means all of them (PEFT 0.13.2: every Linear but lm_head). */
export const T5_PROJECTIONS = ['k', 'o', 'q', 'v', 'wi_0', 'wi_1', 'wo'] as const;

export interface T5Info {
  modelType: 't5';
  vocabSize: number;
  dModel: number;
  dKv: number;
  dFf: number;
  numHeads: number;
  numLayers: number;
  numDecoderLayers: number;
  relativeAttentionNumBuckets: number;
  relativeAttentionMaxDistance: number;
  tieWordEmbeddings: boolean;
  padTokenId: number;
  decoderStartTokenId: number;
  eosTokenIds: number[];
  quant: Quant;
  compute: 'fp32' | 'bf16';
  frozenBytes: number;
  params: number;
}

/** One seq2seq example: encoder ids, decoder input ids ([decoder_start] + targets[:-1]) and labels (targets, -100 ignored). */
export interface T5Example {
  enc: Int32Array;
  dec: Int32Array;
  labels: Int32Array;
}

export interface T5Native {
  t5LoadModel(dir: string, opts: { quant?: string; compute?: string; threads?: number }): Promise<Handle>;
  t5ModelInfo(model: Handle): T5Info;
  t5LoadAdapter(model: Handle, path: string, opts: { r: number; alpha: number; rslora: boolean; targets: string[]; name?: string }): Handle;
  t5InitAdapter(model: Handle, opts: { r: number; alpha: number; rslora?: boolean; targets: string[]; seed?: number; name?: string }): Handle;
  t5SaveAdapter(adapter: Handle, path: string): void;
  t5AdapterTensors(adapter: Handle): Record<string, Float32Array>;
  t5AdapterSetTensor(adapter: Handle, key: string, value: Float32Array): void;
  t5Score(
    model: Handle,
    enc: Int32Array,
    dec: Int32Array,
    adapters: { adapter: Handle; weight: number }[],
    opts?: { logits?: boolean; labels?: Int32Array },
  ): Promise<{ logprobs: Float32Array; logits?: Float32Array }>;
  t5Generate(model: Handle, enc: Int32Array, adapters: { adapter: Handle; weight: number }[], opts: Record<string, unknown>): Promise<{ tokens: Int32Array }>;
  t5SessionStart(model: Handle, enc: Int32Array, adapters: { adapter: Handle; weight: number }[], opts: Record<string, unknown>): Promise<Handle>;
  t5SessionNext(
    session: Handle,
  ): Promise<{ token: number; logprob: number; topIds?: Int32Array; topLogprobs?: Float32Array; finish: 'stop' | 'length' | null }>;
  t5TrainerCreate(model: Handle, adapter: Handle, frozen: { adapter: Handle; weight: number }[], opts: Record<string, number | boolean>): Handle;
  t5TrainerStep(trainer: Handle, steps: T5Example[][][], lrs: number[]): Promise<{ loss: number; gradNorm: number; clipCoef: number; tokens: number }[]>;
  t5TrainerEval(trainer: Handle, examples: T5Example[]): Promise<{ lossSum: number; tokens: number }>;
  t5TrainerAdapter(trainer: Handle): Handle;
  t5TrainerSaveState(trainer: Handle, path: string): void;
  t5TrainerLoadState(trainer: Handle, path: string): void;
}

export const t5Native = (): T5Native => nativeEngine() as unknown as T5Native;

/** adapter_config.json of a T5 adapter: targets must be T5 linear names (or all-linear). */
export function readT5AdapterConfig(dir: string): AdapterConfig {
  const file = join(dir, ADAPTER_CONFIG);
  const cfg = readLoraConfig(dir);
  if (moduleAlphaKeys(cfg).length) throw new PeftError('E_ADAPTER', `${file}#/alpha_pattern: per-module alphas are not supported for t5 adapters`, { file });
  const tm = cfg.targets;
  let targets: string[];
  if (tm === 'all-linear') targets = [...T5_PROJECTIONS];
  else if (Array.isArray(tm)) targets = [...new Set(tm)].sort();
  else throw new PeftError('E_ADAPTER', `${file}#/target_modules: must be a list of T5 module names or "all-linear"`, { file });
  for (const t of targets)
    if (!(T5_PROJECTIONS as readonly string[]).includes(t))
      throw new PeftError('E_ADAPTER', `${file}#/target_modules: '${t}' is not a linear layer of a T5 model`, {
        file,
        hint: `use some of ${T5_PROJECTIONS.join(', ')} or all-linear`,
      });
  return { r: cfg.r, alpha: cfg.alpha, rslora: cfg.rslora, dropout: cfg.dropout, targets, baseModel: cfg.baseModel };
}

export class T5Adapter {
  constructor(
    readonly handle: Handle,
    readonly config: AdapterConfig,
    readonly name: string,
  ) {}
  /** A PEFT adapter folder: adapter_config.json (task_type SEQ_2_SEQ_LM) + adapter_model.safetensors. */
  async save(dir: string, baseModel?: string): Promise<void> {
    mkdirSync(dir, { recursive: true });
    await call(() => t5Native().t5SaveAdapter(this.handle, join(dir, 'adapter_model.safetensors')));
    writeAdapterConfigJson(dir, { ...peftConfigJson({ ...this.config, baseModel: baseModel ?? this.config.baseModel }), task_type: 'SEQ_2_SEQ_LM' });
  }
  tensors(): Record<string, Float32Array> {
    return t5Native().t5AdapterTensors(this.handle);
  }
}

export interface T5AdapterUse {
  adapter: T5Adapter;
  weight?: number;
}
const refs = (xs: T5AdapterUse[]) => xs.map((a) => ({ adapter: a.adapter.handle, weight: a.weight ?? 1 }));

export class T5Model {
  private tok?: ModelTokenizer;
  constructor(
    readonly handle: Handle,
    readonly dir: string,
    readonly info: T5Info,
  ) {}
  get tokenizer(): ModelTokenizer {
    this.tok ??= loadModelTokenizer(this.dir);
    return this.tok;
  }
  async loadAdapter(dir: string, name = dir): Promise<T5Adapter> {
    const cfg = readT5AdapterConfig(dir);
    const h = await call(() =>
      t5Native().t5LoadAdapter(this.handle, join(dir, 'adapter_model.safetensors'), {
        r: cfg.r,
        alpha: cfg.alpha,
        rslora: cfg.rslora,
        targets: cfg.targets,
        name,
      }),
    );
    return new T5Adapter(h, cfg, name);
  }
  /** A fresh adapter as PEFT initialises one: A Kaiming-uniform (seeded), B zero. */
  async createAdapter(opts: {
    r: number;
    alpha?: number;
    rslora?: boolean;
    targets: string[] | 'all-linear';
    dropout?: number;
    seed?: number;
    name?: string;
  }): Promise<T5Adapter> {
    const targets = opts.targets === 'all-linear' ? [...T5_PROJECTIONS] : [...new Set(opts.targets)].sort();
    const alpha = opts.alpha ?? 2 * opts.r;
    const h = await call(() =>
      t5Native().t5InitAdapter(this.handle, { r: opts.r, alpha, rslora: opts.rslora ?? false, targets, seed: opts.seed ?? 0, name: opts.name }),
    );
    return new T5Adapter(h, { r: opts.r, alpha, rslora: opts.rslora ?? false, dropout: opts.dropout ?? 0, targets }, opts.name ?? 'adapter');
  }
  /** log p(dec[t+1] | enc, dec[..t]) for t < dec.length - 1; with `labels`, log p(labels[t] | enc, dec[..t]) per t. */
  async score(
    enc: ArrayLike<number>,
    dec: ArrayLike<number>,
    adapters: T5AdapterUse[] = [],
    opts: { logits?: boolean; labels?: ArrayLike<number> } = {},
  ): Promise<{ logprobs: number[]; logits?: Float32Array }> {
    const r = await call(() =>
      t5Native().t5Score(this.handle, Int32Array.from(enc), Int32Array.from(dec), refs(adapters), {
        logits: opts.logits ?? false,
        labels: opts.labels ? Int32Array.from(opts.labels) : undefined,
      }),
    );
    return { logprobs: Array.from(r.logprobs), logits: r.logits };
  }
  /** New ids from decoder_start (excluded); stops after an eos id (kept). */
  async generate(enc: ArrayLike<number>, opts: GenerateOptions = {}, adapters: T5AdapterUse[] = []): Promise<number[]> {
    if (enc.length === 0) throw new PeftError('E_ENGINE', 'generate: the encoder input is empty (at least one token id is needed)');
    const r = await call(() =>
      t5Native().t5Generate(this.handle, Int32Array.from(enc), refs(adapters), { ...opts, eos: opts.eos ? Int32Array.from(opts.eos) : undefined }),
    );
    return Array.from(r.tokens);
  }
  /** The same generation token by token: the encoder runs here, each `next()` decodes one token (serve streams them). */
  async startSession(enc: ArrayLike<number>, opts: GenerateOptions & { topLogprobs?: number } = {}, adapters: T5AdapterUse[] = []): Promise<T5Session> {
    if (enc.length === 0) throw new PeftError('E_ENGINE', 'generate: the encoder input is empty (at least one token id is needed)');
    const h = await call(() =>
      t5Native().t5SessionStart(this.handle, Int32Array.from(enc), refs(adapters), { ...opts, eos: opts.eos ? Int32Array.from(opts.eos) : undefined }),
    );
    return new T5Session(h);
  }
}

/** One generation in progress (t5SessionNext): tokens exactly as `generate` gives them, with their log-probabilities. */
export class T5Session {
  done = false;
  constructor(readonly handle: Handle) {}
  async next(): Promise<{ token: number; logprob: number; top?: { token: number; logprob: number }[]; finish: 'stop' | 'length' | null }> {
    const r = await call(() => t5Native().t5SessionNext(this.handle));
    if (r.finish) this.done = true;
    const top = r.topIds ? Array.from(r.topIds, (token, i) => ({ token, logprob: r.topLogprobs![i] })) : undefined;
    return { token: r.token, logprob: r.logprob, top, finish: r.finish };
  }
}

export async function loadT5Model(opts: { dir: string; quant?: Quant; compute?: ComputeMode; threads?: number }): Promise<T5Model> {
  let compute = opts.compute ?? 'fp32';
  if (compute === 'int8') compute = 'fp32'; // int8 decoding covers Llama-family decoders (NF4); T5 decodes in fp32
  if (compute === 'auto') compute = nativeEngine().engineCaps().bf16Native ? 'bf16' : 'fp32';
  const h = await call(() => t5Native().t5LoadModel(opts.dir, { quant: opts.quant ?? 'none', compute, threads: opts.threads }));
  return new T5Model(h, opts.dir, t5Native().t5ModelInfo(h));
}

/** A seq2seq LoRA trainer over a T5 model (fresh AdamW state), with frozen adapters beneath the trainable one. */
export class T5Trainer {
  readonly handle: Handle;
  constructor(
    readonly model: T5Model,
    readonly adapter: T5Adapter,
    frozen: T5AdapterUse[] = [],
    opts: {
      weightDecay?: number;
      beta1?: number;
      beta2?: number;
      eps?: number;
      maxGradNorm?: number;
      tokenWeighted?: boolean;
      /** LoRA dropout on the trainable adapter's input, training steps only (PEFT's lora_dropout). */
      dropout?: number;
      /** Dropout masks: the same seed and steps give the same masks (a resumed run draws what the whole run would). */
      seed?: number;
    } = {},
  ) {
    this.handle = t5Native().t5TrainerCreate(model.handle, adapter.handle, refs(frozen), { ...opts });
  }
  /** Optimizer steps: steps[s] is a list of micro-batches of examples; one learning rate per step. */
  step(steps: T5Example[][][], lrs: number[]): Promise<{ loss: number; gradNorm: number; clipCoef: number; tokens: number }[]> {
    return call(() => t5Native().t5TrainerStep(this.handle, steps, lrs));
  }
  /** The AdamW state and step count (a checkpoint's optimizer.safetensors). */
  saveState(path: string): Promise<void> {
    return call(() => t5Native().t5TrainerSaveState(this.handle, path));
  }
  /** Restores what saveState wrote: the next step goes on exactly where it was taken. */
  loadState(path: string): Promise<void> {
    return call(() => t5Native().t5TrainerLoadState(this.handle, path));
  }
  /** Summed loss and target count, no update. */
  eval(examples: T5Example[]): Promise<{ lossSum: number; tokens: number }> {
    return call(() => t5Native().t5TrainerEval(this.handle, examples));
  }
}
