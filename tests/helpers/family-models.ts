// The tiny random-init model of each non-Llama family (GPT-2, Mixtral, T5) and the short LoRA training the family
// serve and export tests give them: one table, so both tests build the same models.
export const TINY = { vocabSize: 512, hiddenSize: 32, numLayers: 2, numHeads: 4 };
export const FAMILY_MODELS = {
  gpt2: { init: { ...TINY, modelType: 'gpt2', intermediateSize: 64, maxPositionEmbeddings: 128, seed: 3 } },
  moe: { init: { ...TINY, modelType: 'mixtral', intermediateSize: 32, numKvHeads: 2, numExperts: 4, expertsPerTok: 2, seed: 1 } },
  t5: { init: { ...TINY, modelType: 't5', intermediateSize: 64, tieWordEmbeddings: false, seed: 0 } },
};
export type Family = keyof typeof FAMILY_MODELS;
export const FAMILIES = Object.keys(FAMILY_MODELS) as Family[];
/** A two-step fp32 LoRA training of those models at learning rate `lr`. */
export const familyTraining = (lr: number) => ({
  quant: 'none',
  compute: 'fp32',
  lora: { r: 4, alpha: 8, dropout: 0 },
  lr,
  warmup: 1,
  batchSize: 4,
  seqLen: 96,
  checkpointEvery: 0,
  maxSteps: 2,
});
