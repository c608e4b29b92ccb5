// The Hugging Face file formats, one reader each, used by the engine, the stages and the CLI: tokenizer.json +
// tokenizer_config.json (one BOS rule) and chat templates (with a fixed date), the prompt format an adapter was trained on, adapter_config.json (rsLoRA, alpha_pattern), safetensors.
export { loadModelTokenizer, type ModelTokenizer } from './tokenizer.ts';
export { compileChatTemplate, parseTemplateDate, pickChatTemplate, type ChatMessage, type ChatTemplate } from './chat-template.ts';
export { PROMPT_FILE, readPromptFile, renderInferencePrompt, type InferencePrompt, type PromptFormat } from './prompt-format.ts';
export { IdBuffer } from './id-buffer.ts';
export { ADAPTER_CONFIG, ADAPTER_WEIGHTS, loraScaling, moduleAlpha, parseAdapterConfig, readAdapterConfig, type LoraConfig } from './adapter-config.ts';
export { readSafetensors, readSafetensorsHeader, writeSafetensorsF32, type Tensor } from './safetensors.ts';
export { notForT5, seq2seqModel, type Seq2SeqModel } from './model-family.ts';
