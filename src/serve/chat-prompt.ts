// Chat messages to prompt ids for a served model: the base model's chat template (tokenizer_config.json
// `chat_template`, generation prompt added) where it has one, encoded without specials (the template writes its own
// BOS: the one BOS rule of src/hf/tokenizer.ts); otherwise the message texts one per line as a plain text, with the
// tokenizer's specials and no role markup (what a plain language model such as stories260K continues).
import type { ChatMessage } from '../hf/chat-template.ts';
import type { ModelTokenizer } from '../hf/tokenizer.ts';

export function chatPromptIds(tok: ModelTokenizer, messages: ChatMessage[]): number[] {
  if (!tok.chatTemplate) return tok.encode(messages.map((m) => m.content).join('\n'), { special: true });
  return tok.encode(tok.chatTemplate.render(messages, { addGenerationPrompt: true }), { special: false });
}
