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
export { allLinear, readAdapterConfig, writeAdapterConfig, LLAMA_PROJECTIONS, MOE_PROJECTIONS, type AdapterConfig } from './adapter-files.ts';
export { lrAt, type ScheduleKind } from './schedule.ts';
export { nativeEngine, type NativeStepRecord } from './native.ts';
