// Renders chat `messages` with a model's Jinja chat template (tokenizer_config.json `chat_template`) via @huggingface/jinja.
import { Template } from '@huggingface/jinja';
import { PeftError } from '../errors.ts';

export interface ChatMessage {
  role: string;
  content: string;
}

export interface ChatTemplate {
  source: string;
  render(messages: ChatMessage[], opts?: { addGenerationPrompt?: boolean }): string;
}

/** tokenizer_config's chat_template may be a string or a list of {name, template}; the `default` one is used. */
export function pickChatTemplate(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const named = value as { name?: string; template?: string }[];
    return (named.find((t) => t.name === 'default') ?? named[0])?.template;
  }
  return undefined;
}

export function compileChatTemplate(source: string, specials: { bos_token?: string; eos_token?: string }, origin: string): ChatTemplate {
  let tpl: Template;
  try {
    tpl = new Template(source);
  } catch (err) {
    throw new PeftError('E_MODEL', `${origin}: chat template does not parse (${(err as Error).message})`, { file: origin });
  }
  return {
    source,
    render(messages, opts = {}) {
      try {
        return tpl.render({
          messages,
          add_generation_prompt: opts.addGenerationPrompt ?? false,
          bos_token: specials.bos_token ?? '',
          eos_token: specials.eos_token ?? '',
        });
      } catch (err) {
        throw new PeftError('E_DATA', `${origin}: chat template failed on these messages: ${(err as Error).message}`, { file: origin });
      }
    },
  };
}
