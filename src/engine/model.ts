// The typed engine API for inference: load a model (quant, compute), load / create / save adapters, score a
// sequence (per-token log-probs) and generate with any stack of adapters, each with its own weight.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PeftError } from '../errors.ts';
import { readAdapterConfig, writeAdapterConfig, type AdapterConfig, targetModulesFor } from './adapter-files.ts';
import { call, nativeEngine, type Handle, type NativeModelInfo } from './native.ts';
import { loraScaling } from '../hf/adapter-config.ts';
import { loadModelTokenizer, type ModelTokenizer } from '../hf/tokenizer.ts';

export type Quant = 'none' | 'nf4';
/** fp32 / bf16: the precision of the products; int8: NF4 decoding in int8 (quant nf4 only; generation and serving:
 * decode rows as int8 levels x int8 inputs, the head in int8; prompts of 33+ rows and training in fp32). */
export type ComputeMode = 'fp32' | 'bf16' | 'int8' | 'auto';

export interface LoadModelOptions {
  dir: string;
  quant?: Quant;
  compute?: ComputeMode;
  threads?: number;
}

export class EngineAdapter {
  constructor(
    readonly handle: Handle,
    readonly config: AdapterConfig,
    readonly name: string,
  ) {}
  /** Writes a PEFT adapter folder: adapter_config.json + adapter_model.safetensors (fp32). */
  async save(dir: string, baseModel?: string): Promise<void> {
    mkdirSync(dir, { recursive: true });
    await call(() => nativeEngine().saveAdapter(this.handle, join(dir, 'adapter_model.safetensors')));
    writeAdapterConfig(dir, { ...this.config, baseModel: baseModel ?? this.config.baseModel });
  }
  get scaling(): number {
    return loraScaling({ ...this.config, alphaPattern: {} });
  }
}

export interface AdapterUse {
  adapter: EngineAdapter;
  weight?: number; // multiplies the adapter's own scaling (alpha / r); default 1
}

export interface GenerateOptions {
  maxTokens?: number;
  temperature?: number; // 0 = greedy
  topK?: number;
  topP?: number;
  seed?: number;
  eos?: number[]; // default: the model's eos ids
}

export interface ScoreResult {
  ids: number[];
  logprobs: number[]; // logprobs[t] = log p(ids[t+1] | ids[..t])
  logits?: Float32Array; // [ids.length, vocab] when asked for
  routing?: Int32Array; // MoE, when asked for: [layers, ids.length, expertsPerTok] chosen experts, best first
  routerLogits?: Float32Array; // MoE, with routing: [layers, ids.length, numExperts] router logits (gate outputs)
  meanNll: number;
  perplexity: number;
}

export class EngineModel {
  private tok?: ModelTokenizer;
  constructor(
    readonly handle: Handle,
    readonly dir: string,
    readonly info: NativeModelInfo,
  ) {}

  get tokenizer(): ModelTokenizer {
    this.tok ??= loadModelTokenizer(this.dir);
    return this.tok;
  }

  /** Loads a PEFT adapter folder (adapter_config.json + adapter_model.safetensors). */
  async loadAdapter(dir: string, name = dir): Promise<EngineAdapter> {
    const cfg = readAdapterConfig(dir, this.info.modelType);
    const h = await call(() =>
      nativeEngine().loadAdapter(this.handle, join(dir, 'adapter_model.safetensors'), {
        r: cfg.r,
        alpha: cfg.alpha,
        rslora: cfg.rslora,
        targets: cfg.targets,
        name,
      }),
    );
    return new EngineAdapter(h, cfg, name);
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
  }): Promise<EngineAdapter> {
    const targets = opts.targets === 'all-linear' ? [...targetModulesFor(this.info.modelType)] : [...new Set(opts.targets)].sort();
    const alpha = opts.alpha ?? 2 * opts.r;
    const h = await call(() =>
      nativeEngine().initAdapter(this.handle, { r: opts.r, alpha, rslora: opts.rslora ?? false, targets, seed: opts.seed ?? 0, name: opts.name }),
    );
    const fanInFanOut = this.info.modelType === 'gpt2' ? true : undefined; // Conv1D layers: PEFT's fan_in_fan_out
    return new EngineAdapter(h, { r: opts.r, alpha, rslora: opts.rslora ?? false, dropout: opts.dropout ?? 0, targets, fanInFanOut }, opts.name ?? 'adapter');
  }

  async score(ids: number[] | Int32Array, adapters: AdapterUse[] = [], opts: { logits?: boolean; routing?: boolean } = {}): Promise<ScoreResult> {
    const arr = Int32Array.from(ids);
    const r = await call(() => nativeEngine().score(this.handle, arr, refs(adapters), { logits: opts.logits ?? false, routing: opts.routing ?? false }));
    const logprobs = Array.from(r.logprobs);
    const meanNll = logprobs.length ? -logprobs.reduce((a, b) => a + b, 0) / logprobs.length : 0;
    return { ids: Array.from(arr), logprobs, logits: r.logits, routing: r.routing, routerLogits: r.routerLogits, meanNll, perplexity: Math.exp(meanNll) };
  }

  /**
   * Generates one sequence in one native call (native/src/generate.cc: the whole loop in C++, no hop to JS per token;
   * steps below 32 rows run the decode products the batched decoder also runs, longer prompts the matmuls), so
   * `peftmake generate` and a request served alone give the same tokens.
   */
  async generate(promptIds: number[] | Int32Array, opts: GenerateOptions = {}, adapters: AdapterUse[] = []): Promise<number[]> {
    return (await this.runGenerate(promptIds, opts, adapters, false)).tokens;
  }

  /**
   * generate, with each token's log-probability under its step's logits (the numbers the batched decoder reports for
   * the same request, bit for bit).
   */
  async generateDetailed(
    promptIds: number[] | Int32Array,
    opts: GenerateOptions = {},
    adapters: AdapterUse[] = [],
  ): Promise<{ tokens: number[]; logprobs: number[] }> {
    return this.runGenerate(promptIds, opts, adapters, true);
  }

  private async runGenerate(
    promptIds: number[] | Int32Array,
    opts: GenerateOptions,
    adapters: AdapterUse[],
    logprobs: boolean,
  ): Promise<{ tokens: number[]; logprobs: number[] }> {
    const prompt = Int32Array.from(promptIds);
    const maxTokens = opts.maxTokens ?? 64;
    if (prompt.length === 0) throw new PeftError('E_ENGINE', 'generate: the prompt is empty (at least one token id is needed)');
    if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new PeftError('E_ENGINE', `generate: maxTokens must be an integer >= 0, got ${maxTokens}`);
    if (maxTokens === 0) return { tokens: [], logprobs: [] };
    const r = await call(() =>
      nativeEngine().generate(this.handle, prompt, refs(adapters), {
        maxTokens,
        temperature: opts.temperature ?? 0,
        topK: opts.topK ?? 0,
        topP: opts.topP ?? 1,
        seed: opts.seed ?? 0,
        eos: opts.eos,
        logprobs,
      }),
    );
    return { tokens: Array.from(r.tokens), logprobs: r.logprobs ? Array.from(r.logprobs) : [] };
  }
}

export function refs(adapters: AdapterUse[]): { adapter: Handle; weight: number }[] {
  return adapters.map((a) => ({ adapter: a.adapter.handle, weight: a.weight ?? 1 }));
}

export async function loadModel(opts: LoadModelOptions): Promise<EngineModel> {
  const quant = opts.quant ?? 'none';
  if (quant !== 'none' && quant !== 'nf4') throw new PeftError('E_ENGINE', `quant must be 'none' or 'nf4', got '${String(quant)}'`);
  // 'auto' picks bf16 only when the kernels have native bf16 matmul (oneDNN AVX512-BF16 / AMX), else fp32.
  let compute = opts.compute ?? 'fp32';
  if (compute === 'auto') compute = nativeEngine().engineCaps().bf16Native ? 'bf16' : 'fp32';
  if (compute !== 'fp32' && compute !== 'bf16' && compute !== 'int8')
    throw new PeftError('E_ENGINE', `compute must be 'fp32', 'bf16', 'int8' or 'auto', got '${String(compute)}'`);
  if (compute === 'int8' && quant !== 'nf4')
    throw new PeftError('E_ENGINE', `compute 'int8' decodes NF4 weights: load with quant 'nf4' (got quant '${quant}'), or use compute 'fp32' / 'bf16'`);
  const h = await call(() => nativeEngine().loadModel(opts.dir, { quant, compute, threads: opts.threads }));
  return new EngineModel(h, opts.dir, nativeEngine().modelInfo(h));
}
