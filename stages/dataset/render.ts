// Renders an example as text segments, each with or without loss: prompt templates for instruction / completion / qa,
// the model's chat template for chat (assistant turns carry the loss, found by rendering the conversation turn by turn).
import { PeftError } from '../../src/errors.ts';
import type { ChatMessage, ChatTemplate } from '../../src/hf/index.ts';
import type { Example } from './fields.ts';
import { BadRecord, type Origin } from './records.ts';
import type { DatasetConfig } from './schema.ts';

export interface Segment {
  text: string;
  loss: boolean;
}

export const DEFAULT_TEMPLATES = {
  qa: { prompt: 'Context: {context}\nQuestion: {question}\nAnswer:', response: ' {answer}' },
  instruction: {
    prompt: '### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n',
    promptNoInput: '### Instruction:\n{instruction}\n\n### Response:\n',
    response: '{output}',
  },
  completion: { prompt: '{prompt}', response: '{completion}' },
} as const;

/** Fills {name} placeholders; `{{` and `}}` are literal braces. An unknown placeholder is a config error. */
export function fillTemplate(template: string, values: Record<string, string>, what: string): string {
  return template.replace(/\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (m, name: string | undefined) => {
    if (m === '{{') return '{';
    if (m === '}}') return '}';
    const v = values[name!];
    if (v === undefined)
      throw new PeftError(
        'E_CONFIG_SEMANTIC',
        `pipeline.json ${what}: template placeholder {${name}} is not a field of this format (${Object.keys(values).join(', ')})`,
        {
          pointer: what,
          hint: 'use one of the listed placeholders; write {{ and }} for literal braces',
        },
      );
    return v;
  });
}

function promptResponse(e: Example, t: DatasetConfig['template']): { prompt: string; response: string } {
  switch (e.format) {
    case 'qa': {
      const v = { context: e.context, question: e.question, answer: e.answer };
      return {
        prompt: fillTemplate(t.prompt ?? DEFAULT_TEMPLATES.qa.prompt, v, 'template/prompt'),
        response: fillTemplate(t.response ?? DEFAULT_TEMPLATES.qa.response, v, 'template/response'),
      };
    }
    case 'instruction': {
      const v = { instruction: e.instruction, input: e.input, output: e.output };
      const p = e.input.trim() === '' ? (t.promptNoInput ?? DEFAULT_TEMPLATES.instruction.promptNoInput) : (t.prompt ?? DEFAULT_TEMPLATES.instruction.prompt);
      return {
        prompt: fillTemplate(p, v, 'template/prompt'),
        response: fillTemplate(t.response ?? DEFAULT_TEMPLATES.instruction.response, v, 'template/response'),
      };
    }
    case 'completion': {
      const v = { prompt: e.prompt, completion: e.completion };
      return {
        prompt: fillTemplate(t.prompt ?? DEFAULT_TEMPLATES.completion.prompt, v, 'template/prompt'),
        response: fillTemplate(t.response ?? DEFAULT_TEMPLATES.completion.response, v, 'template/response'),
      };
    }
    default:
      throw new Error(`promptResponse: ${e.format}`);
  }
}

/** Segments of a conversation: the text each turn adds to the rendering, assistant content with loss. */
export function chatSegments(messages: ChatMessage[], tpl: ChatTemplate, origin: Origin): Segment[] {
  const segs: Segment[] = [];
  let prev = '';
  const extend = (next: string, loss: boolean, what: string) => {
    if (!next.startsWith(prev))
      throw new BadRecord(
        origin,
        `the chat template does not render turn by turn (${what} changes the earlier text), so assistant turns cannot be masked`,
        'use a chat template whose rendering of a conversation prefix is a prefix of the whole',
      );
    if (next.length > prev.length) segs.push({ text: next.slice(prev.length), loss });
    prev = next;
  };
  messages.forEach((m, i) => {
    if (m.role === 'assistant') extend(tpl.render(messages.slice(0, i), { addGenerationPrompt: true }), false, `the generation prompt before message ${i}`);
    extend(tpl.render(messages.slice(0, i + 1)), m.role === 'assistant', `message ${i}`);
  });
  return segs;
}

/** The segments of one example in the configured format; `text` examples are one segment with loss. */
export function renderExample(e: Example, config: DatasetConfig, chatTemplate: ChatTemplate | undefined, origin: Origin): Segment[] {
  if (e.format === 'text') return [{ text: e.text, loss: true }];
  if (e.format === 'chat') {
    if (!chatTemplate) throw noChatTemplate(config);
    return chatSegments(e.messages, chatTemplate, origin);
  }
  const { prompt, response } = promptResponse(e, config.template);
  if (config.template.useChatTemplate) {
    if (!chatTemplate) throw noChatTemplate(config);
    return chatSegments(
      [
        { role: 'user', content: prompt },
        { role: 'assistant', content: response },
      ],
      chatTemplate,
      origin,
    );
  }
  return [
    { text: prompt, loss: false },
    { text: response, loss: true },
  ];
}

export function noChatTemplate(config: DatasetConfig): Error {
  return new PeftError('E_DATA', `model "${config.model}" has no chat_template in tokenizer_config.json and the dataset sets none`, {
    pointer: 'template/chatTemplate',
    hint: 'set "template": {"chatTemplate": "<jinja>"} on the dataset, or use a model with a chat template',
  });
}
