// The prompt format a dataset rendered its examples in (prompt.json in a dataset artifact, `prompt` in adapter.json),
// so inference can format a prompt the way an adapter was trained: its chat template, with the date it saw, or none.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PeftError } from '../errors.ts';
import { compileChatTemplate, type ChatMessage, type ChatTemplate } from './chat-template.ts';

export const PROMPT_FILE = 'prompt.json';

export interface PromptFormat {
  /** The dataset format: text, chat, qa, instruction or completion. */
  format: string;
  /** The chat template the examples were rendered with (the dataset's own or the model's) and the date it saw; null: none. */
  chat: { template: string; date: string | null } | null;
  /**
   * Without a chat template: the prompt template the user's text was put in (completion: `{prompt}`, instruction:
   * `{instruction}` of the no-input form), so inference puts a prompt in it the same way; absent in older artifacts.
   */
  promptTemplate?: PromptTemplate;
}

/** A dataset prompt template and the one placeholder a prompt fills (the others are left empty). */
export interface PromptTemplate {
  template: string;
  field: string;
}

/** prompt.json of a dataset artifact; undefined where the artifact has none (built before it was recorded). */
export function readPromptFile(artifactDir: string): PromptFormat | undefined {
  const f = join(artifactDir, PROMPT_FILE);
  if (!existsSync(f)) return undefined;
  try {
    return JSON.parse(readFileSync(f, 'utf8')) as PromptFormat;
  } catch (err) {
    throw new PeftError('E_STORE', `${f}: not valid JSON (${(err as Error).message})`, { file: f });
  }
}

/** The format an inference prompt is put in, and where that choice comes from (`adapter NAME`, `base model`, `none`). */
export interface InferencePrompt {
  /** The chat template (and the date it renders) a prompt is wrapped in as a user turn; null: the prompt as is. */
  chat: { template: string; date: string | null } | null;
  source: string;
  /** Said when the choice is not clear-cut (adapters trained with different templates, an older artifact). */
  warnings: string[];
  /** Without a chat template, the prompt template its adapters were trained with (see PromptFormat). */
  promptTemplate?: PromptTemplate;
}

/**
 * The text of a prompt where there is no chat template: the prompt put in the prompt template the adapters were
 * trained with (a completion dataset's `{prompt}<|endoftext|>`, as DialoGPT's turns), else the prompt as is. Encode it
 * with the tokenizer's specials, as the dataset encoded its examples.
 */
export function plainPromptText(prompt: string, format?: Pick<InferencePrompt, 'promptTemplate'>): string {
  const t = format?.promptTemplate;
  if (!t) return prompt;
  return t.template.replace(/\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (m, name: string | undefined) =>
    m === '{{' ? '{' : m === '}}' ? '}' : name === t.field ? prompt : '',
  );
}

/**
 * `prompt` as a user turn with the generation prompt, rendered by the chat template with the model's special tokens;
 * undefined where the format has no chat template (the prompt is used as is). The text is encoded without specials:
 * the template writes its own BOS (the one BOS rule of tokenizer.ts).
 */
export function renderInferencePrompt(
  p: Pick<InferencePrompt, 'chat' | 'source'>,
  specials: { bosToken?: string; eosToken?: string },
  prompt: string,
): string | undefined {
  return renderInferenceChat(p, specials, [{ role: 'user', content: prompt }]);
}

/** Chat messages with the generation prompt, rendered by the format's chat template; undefined where it has none. */
export function renderInferenceChat(
  p: Pick<InferencePrompt, 'chat' | 'source'>,
  specials: { bosToken?: string; eosToken?: string },
  messages: ChatMessage[],
): string | undefined {
  if (!p.chat) return undefined;
  const key = JSON.stringify([p.chat.template, p.chat.date, specials.bosToken ?? null, specials.eosToken ?? null]);
  let tpl = compiled.get(key);
  if (!tpl) {
    tpl = compileChatTemplate(p.chat.template, { bos_token: specials.bosToken, eos_token: specials.eosToken }, `the chat template of the ${p.source}`, {
      date: p.chat.date,
    });
    if (compiled.size >= 32) compiled.delete(compiled.keys().next().value!);
    compiled.set(key, tpl);
  }
  return tpl.render(messages, { addGenerationPrompt: true });
}
const compiled = new Map<string, ChatTemplate>(); // a server renders the same few templates for every request

/**
 * Chat messages as inference formats them for a model (generate --composition, serve's chat routes): with the chat
 * template `format` says its adapters were trained with, or, without a format, the tokenizer's own; undefined where
 * there is none (the caller uses the text as is). Encode the result without specials: the template writes its own BOS.
 */
export function inferenceChatText(
  tok: { chatTemplate?: ChatTemplate; bosToken?: string; eosToken?: string },
  messages: ChatMessage[],
  format?: Pick<InferencePrompt, 'chat' | 'source'>,
): string | undefined {
  if (!format) return tok.chatTemplate?.render(messages, { addGenerationPrompt: true });
  return renderInferenceChat(format, tok, messages);
}
