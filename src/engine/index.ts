// Public entry of the engine API: models, adapters, scoring, generation and training.
export {
  loadModel,
  EngineModel,
  EngineAdapter,
  type AdapterUse,
  type GenerateOptions,
  type LoadModelOptions,
  type ScoreResult,
  type Quant,
  type ComputeMode,
} from './model.ts';
export {
  train,
  evalLoss,
  packCausalLM,
  saveCheckpoint,
  TrainingInterrupted,
  type MicroBatch,
  type TrainOptions,
  type TrainHooks,
  type TrainResult,
} from './train.ts';
export { readAdapterConfig, writeAdapterConfig, LLAMA_PROJECTIONS, GPT2_MODULES, targetModulesFor, type AdapterConfig } from './adapter-files.ts';
export { lrAt, type ScheduleKind } from './schedule.ts';
export { nativeEngine, type NativeStepRecord } from './native.ts';
