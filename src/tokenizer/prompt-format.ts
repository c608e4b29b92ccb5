// The prompt format a dataset rendered its examples in (prompt.json in a dataset artifact, `prompt` in adapter.json),
// so inference can format a prompt the way an adapter was trained: its chat template, with the date it saw, or none.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PeftError } from '../errors.ts';
import { compileChatTemplate } from './chat-template.ts';

export const PROMPT_FILE = 'prompt.json';

export interface PromptFormat {
  /** The dataset format: text, chat, qa, instruction or completion. */
  format: string;
  /** The chat template the examples were rendered with (the dataset's own or the model's) and the date it saw; null: none. */
  chat: { template: string; date: string | null } | null;
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

/**
 * `prompt` as a user turn with the generation prompt, rendered by `chat` with the model's special tokens. `bos` says
 * whether the tokenizer should still add BOS (false when the template already wrote it).
 */
export function renderChatPrompt(
  chat: { template: string; date: string | null },
  specials: { bosToken?: string; eosToken?: string },
  prompt: string,
  origin: string,
): { text: string; bos: boolean } {
  const tpl = compileChatTemplate(chat.template, { bos_token: specials.bosToken, eos_token: specials.eosToken }, origin, { date: chat.date });
  const text = tpl.render([{ role: 'user', content: prompt }], { addGenerationPrompt: true });
  return { text, bos: !(specials.bosToken && text.startsWith(specials.bosToken)) };
}
