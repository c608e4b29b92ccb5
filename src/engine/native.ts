// Loads the native addon (native/build/Release/peft_engine.node) and types its raw functions. Everything else in
// src/engine goes through this module; a missing build becomes a PeftError with the command that fixes it.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PeftError } from '../errors.ts';

export type Handle = object & { readonly __brand?: 'native-handle' };

export interface NativeModelInfo {
  modelType: string;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  maxPositionEmbeddings: number;
  numExperts: number; // 0: dense MLP; else a sparse mixture of experts (Mixtral, MiniMax-M2)
  expertsPerTok: number;
  /** The weight of the router load-balancing loss a trainer adds by default: router_aux_loss_coef when config.json's
   * output_router_logits is true (transformers' rule), else 0. */
  routerAuxLossCoef: number;
  slidingWindow: number;
  tieWordEmbeddings: boolean;
  bosTokenId: number;
  eosTokenIds: number[];
  ropeScaling: string;
  quant: 'none' | 'nf4';
  compute: 'fp32' | 'bf16' | 'int8';
  frozenBytes: number;
  /** The bf16 copy of the head that bf16 compute decodes with (part of frozenBytes; 0 otherwise). */
  headCopyBytes: number;
  params: number;
  backend: string;
  /** Which kernels each op family runs with in this model's compute mode (for logs and artifact metadata). */
  kernels: string;
}

export interface NativeAdapterInfo {
  name: string;
  r: number;
  alpha: number;
  rslora: boolean;
  scaling: number;
  params: number;
  modules: string[];
}

export interface NativeAdapterRef {
  adapter: Handle;
  weight: number;
}

export interface NativeStepRecord {
  step: number;
  loss: number;
  microLosses: number[];
  /** MoE with the router load-balancing loss on: its mean over the micro-batches, unscaled (loss includes coef * it). */
  auxLoss?: number;
  gradNorm: number;
  clipCoef: number;
  clipped: boolean;
  lr: number;
  tokens: number;
  seconds: number;
}

export interface NativeProgress {
  step: number;
  loss: number;
  lr: number;
  gradNorm: number;
  tokensPerSec: number;
  tokens: number;
}

export interface NativeBatch {
  ids: Int32Array;
  labels: Int32Array;
  /** Real tokens of each right-padded row [steps * micro * batch] (the attention mask); absent: every token is real. */
  lengths?: Int32Array;
  steps?: number;
  micro: number;
  batch: number;
  seqLen: number;
  lrs?: Float64Array;
}

export interface NativeEngine {
  engineVersion(): string;
  loadModel(dir: string, opts: { quant?: string; compute?: string; threads?: number }): Promise<Handle>;
  modelInfo(model: Handle): NativeModelInfo;
  loadAdapter(model: Handle, path: string, opts: { r: number; alpha: number; rslora: boolean; targets: string[]; name?: string }): Handle;
  initAdapter(model: Handle, opts: { r: number; alpha: number; rslora?: boolean; targets: string[]; seed?: number; name?: string }): Handle;
  saveAdapter(adapter: Handle, path: string): void;
  adapterInfo(adapter: Handle): NativeAdapterInfo;
  score(
    model: Handle,
    ids: Int32Array,
    adapters: NativeAdapterRef[],
    opts?: { logits?: boolean; routing?: boolean },
  ): Promise<{ logprobs: Float32Array; logits?: Float32Array; routing?: Int32Array; routerLogits?: Float32Array }>;
  generate(
    model: Handle,
    prompt: Int32Array,
    adapters: NativeAdapterRef[],
    opts: { maxTokens?: number; temperature?: number; topK?: number; topP?: number; seed?: number; eos?: number[]; logprobs?: boolean },
  ): Promise<{ tokens: Int32Array; logprobs?: Float32Array }>;
  createTrainer(model: Handle, adapter: Handle, frozen: NativeAdapterRef[], opts: Record<string, number | boolean>): Handle;
  trainerRun(trainer: Handle, batch: NativeBatch, onProgress?: (p: NativeProgress) => void): Promise<NativeStepRecord[]>;
  trainerEval(trainer: Handle, batch: NativeBatch): Promise<number[]>;
  trainerGradients(trainer: Handle, batch: NativeBatch): Promise<{ loss: number; auxLoss?: number; gradNorm: number; grads: Record<string, Float32Array> }>;
  adapterTensors(adapter: Handle): Record<string, Float32Array>;
  adapterSetTensor(adapter: Handle, key: string, value: Float32Array): void;
  trainerCancel(trainer: Handle): void;
  trainerAdapter(trainer: Handle): Handle;
  trainerStep(trainer: Handle): number;
  trainerSaveState(trainer: Handle, path: string): void;
  trainerLoadState(trainer: Handle, path: string): void;
  setThreads(n: number): number;
  /** Batched decoding (src/engine/batch.ts): a decoder over one model, stepped one forward at a time. */
  decoderCreate(model: Handle, opts: { maxBatch: number; kvBudgetBytes: number }): Handle;
  decoderInfo(decoder: Handle): { maxBatch: number; kvBudgetBytes: number; kvBytesPerToken: number };
  decoderStep(
    decoder: Handle,
    adds: {
      id: number;
      prompt: Int32Array;
      adapters: NativeAdapterRef[];
      maxTokens: number;
      temperature: number;
      topK: number;
      topP: number;
      seed: number;
      eos?: number[];
      topLogprobs: number;
    }[],
    drops: number[],
    opts?: { prefillRows?: number },
  ): Promise<{
    events: { id: number; token: number; logprob: number; topIds?: Int32Array; topLogprobs?: Float32Array; finish: 'stop' | 'length' | null }[];
    rejected: { id: number; code: string; message: string }[];
    /** Prompt rows the step ran (its other rows were decode rows). */
    prefillRows: number;
  }>;
  /** recomputedLayers: layers whose activations the backward recomputes (see TrainOptions.activationBudgetBytes). */
  trainerInfo(trainer: Handle): {
    loraParams: number;
    loraBytes: number;
    activationBytes: number;
    frozenBytes: number;
    recomputedLayers: number;
    steps: number;
    /** The weight of the MoE router load-balancing loss this trainer adds (0: off). */
    routerAuxLossCoef: number;
    /** MoE side buffers (routed rows, router scores): bytes planned (counted in activationBytes) and held now. */
    moePlannedBytes: number;
    moeHeldBytes: number;
  };
  /** Seconds per op family accumulated over training steps since the last reset (reset: true zeroes them after reading). */
  engineProfile(opts?: { reset?: boolean }): EngineProfile;
  engineCaps(): { threads: number; bf16Native: boolean; backend: string };
  benchSgemm(opts: { M: number; N: number; K: number; iters?: number; bf16?: boolean }): number;
}

const here = dirname(fileURLToPath(import.meta.url));
export const ADDON_PATH = join(here, '..', '..', 'native', 'build', 'Release', 'peft_engine.node');

let cached: NativeEngine | undefined;

export function nativeEngine(): NativeEngine {
  if (cached) return cached;
  if (!existsSync(ADDON_PATH))
    throw new PeftError('E_ENGINE', `the native engine is not built (${ADDON_PATH} is missing)`, {
      hint: 'run `npm run build:native`',
    });
  const require = createRequire(import.meta.url);
  cached = require(ADDON_PATH) as NativeEngine;
  return cached;
}

/** Re-throws native errors (plain Errors with a `code`) as PeftError, keeping code and message. */
export function asPeftError(err: unknown): Error {
  if (err instanceof PeftError) return err;
  const e = err as { code?: string; message?: string };
  if (e && typeof e.code === 'string' && e.code.startsWith('E_')) return new PeftError(e.code, e.message ?? String(err));
  return err instanceof Error ? err : new Error(String(err));
}

export async function call<T>(fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw asPeftError(err);
  }
}

/** Where training steps spent their time: per op family on the orchestrating thread, and the thread pool's counters. */
export interface EngineProfile {
  families: Record<'matmul_frozen_fwd' | 'matmul_frozen_bwd' | 'lora' | 'attention' | 'elementwise' | 'lmhead_ce' | 'optimizer' | 'sampling', number>;
  steps: number;
  stepSeconds: number;
  /** Step time outside every family (embedding gather, final norm, label shifting, calls into JS). */
  unaccounted: number;
  poolWorkerBusySeconds: number;
  poolCallerWaitSeconds: number;
  poolRegions: number;
  /** Pool regions dispatched inside each family (the rest of poolRegions ran outside every family). */
  familyRegions: Record<'matmul_frozen_fwd' | 'matmul_frozen_bwd' | 'lora' | 'attention' | 'elementwise' | 'lmhead_ce' | 'optimizer', number>;
}
