// A model's tokenizer for dataset preparation and generation: loading, chat templates, the model directory lookup.
export { loadModelTokenizer, type ModelTokenizer } from './load.ts';
export { compileChatTemplate, parseTemplateDate, pickChatTemplate, type ChatMessage, type ChatTemplate } from './chat-template.ts';
export { modelDirOf } from './model-dir.ts';
export { IdBuffer } from './id-buffer.ts';
export { PROMPT_FILE, readPromptFile, renderChatPrompt, type PromptFormat } from './prompt-format.ts';
