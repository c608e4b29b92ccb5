// Chat messages to prompt ids for a served model, formatted as its adapters were trained: the chat template the model's
// kind reports (the dataset's where one was set, else the base's: src/hf/prompt-format.ts, as `generate --composition`),
// encoded without specials (the template writes its own BOS: the one BOS rule of src/hf/tokenizer.ts); where there is
// no template, the message texts one per line as a plain text with the tokenizer's specials and no role markup (what a
// plain language model such as stories260K continues), put in the prompt template of a completion or instruction
// dataset where the adapters were trained on one (DialoGPT's `{prompt}<|endoftext|>`). For an encoder-decoder (T5) that text is the encoder's input:
// its tokens and </s>, no BOS, as the seq2seq datasets (stages/dataset/seq2seq.ts) trained it.
import type { ChatMessage } from '../hf/chat-template.ts';
import { inferenceChatText, plainPromptText, type InferencePrompt } from '../hf/prompt-format.ts';
import type { ModelTokenizer } from '../hf/tokenizer.ts';

export function chatPromptIds(tok: ModelTokenizer, messages: ChatMessage[], format?: InferencePrompt, seq2seq?: { eos: number }): number[] {
  const text = inferenceChatText(tok, messages, format);
  const plain = () => plainPromptText(messages.map((m) => m.content).join('\n'), format);
  if (seq2seq) return [...tok.encode(text ?? plain(), { special: false }), seq2seq.eos];
  if (text === undefined) return tok.encode(plain(), { special: true });
  return tok.encode(text, { special: false });
}
