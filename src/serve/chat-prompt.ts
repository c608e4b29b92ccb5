// Chat messages to prompt text for a served model: the base model's chat template (tokenizer_config.json
// `chat_template`, generation prompt added) where it has one; otherwise the message texts one per line, with no
// role markup (what a plain language model such as stories260K continues).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PeftError } from '../errors.ts';
import { compileChatTemplate, pickChatTemplate, type ChatMessage, type ChatTemplate } from '../tokenizer/chat-template.ts';

const cache = new Map<string, { tpl?: ChatTemplate; bosToken?: string }>();

function templateOf(modelDir: string): { tpl?: ChatTemplate; bosToken?: string } {
  let hit = cache.get(modelDir);
  if (hit) return hit;
  const file = join(modelDir, 'tokenizer_config.json');
  hit = {};
  if (existsSync(file)) {
    let cfg: Record<string, unknown>;
    try {
      cfg = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new PeftError('E_MODEL', `${file}: not valid JSON (${(err as Error).message})`, { file });
    }
    const tokenText = (v: unknown) => (typeof v === 'string' ? v : (v as { content?: string } | undefined)?.content);
    const source = pickChatTemplate(cfg.chat_template);
    hit.bosToken = tokenText(cfg.bos_token);
    if (source) hit.tpl = compileChatTemplate(source, { bos_token: hit.bosToken, eos_token: tokenText(cfg.eos_token) }, file);
  }
  cache.set(modelDir, hit);
  return hit;
}

/** The prompt text and whether the tokenizer should add BOS (false when the template wrote it; undefined: as tokenizer_config says). */
export function chatPrompt(modelDir: string, messages: ChatMessage[]): { text: string; bos?: boolean; templated: boolean } {
  const { tpl, bosToken } = templateOf(modelDir);
  if (!tpl) return { text: messages.map((m) => m.content).join('\n'), templated: false };
  const text = tpl.render(messages, { addGenerationPrompt: true });
  return { text, bos: !(bosToken && text.startsWith(bosToken)), templated: true };
}
