// Maps raw records to the fields of the dataset format (with the `fields` renames), checking types and presence.
import type { ChatMessage } from '../../src/hf/index.ts';
import { BadRecord, type RawRecord, type Origin } from './records.ts';
import type { DatasetFormat } from './schema.ts';

/** One example in the format's own terms; `texts` lists the cleanable string fields in a fixed order. */
export type Example =
  | { format: 'text'; text: string }
  | { format: 'chat'; messages: ChatMessage[] }
  | { format: 'instruction'; instruction: string; input: string; output: string }
  | { format: 'completion'; prompt: string; completion: string }
  | { format: 'qa'; context: string; question: string; answer: string };

export interface Item {
  example: Example;
  origin: Origin;
}

export const FORMAT_FIELDS: Record<DatasetFormat, string[]> = {
  text: ['text'],
  chat: ['messages'],
  instruction: ['instruction', 'input', 'output'],
  completion: ['prompt', 'completion'],
  qa: ['context', 'question', 'answers'],
};

function get(obj: Record<string, unknown>, path: string): unknown {
  if (path in obj) return obj[path];
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/** The first answer text of SQuAD-like answers: {"text": [...]} (HF), [{"text"}] (SQuAD json), ["..."], or "...". */
export function firstAnswer(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    const a = v[0];
    if (typeof a === 'string') return a;
    if (a && typeof a === 'object' && typeof (a as { text?: unknown }).text === 'string') return (a as { text: string }).text;
    return undefined;
  }
  if (v && typeof v === 'object') {
    const t = (v as { text?: unknown }).text;
    if (Array.isArray(t) && typeof t[0] === 'string') return t[0];
    if (typeof t === 'string') return t;
  }
  return undefined;
}

export function toExample(rec: RawRecord, format: DatasetFormat, fields: Record<string, string>): Example {
  const name = (f: string) => fields[f] ?? f;
  const field = (f: string) => get(rec.fields, name(f));
  const label = (f: string) => (fields[f] ? `"${fields[f]}" (mapped to ${f})` : `"${f}"`);
  const str = (f: string, optional = false): string => {
    const v = field(f);
    if (v === undefined || v === null) {
      if (optional) return '';
      throw new BadRecord(
        rec.origin,
        `missing field ${label(f)}; the record has ${Object.keys(rec.fields).slice(0, 8).join(', ') || 'no fields'}`,
        `map the field with "fields": {"${f}": "<name>"}`,
      );
    }
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    if (typeof v !== 'string') throw new BadRecord(rec.origin, `field ${label(f)} must be a string, got ${Array.isArray(v) ? 'an array' : typeof v}`);
    return v;
  };
  switch (format) {
    case 'text':
      return { format, text: str('text') };
    case 'instruction':
      return { format, instruction: str('instruction'), input: str('input', true), output: str('output') };
    case 'completion':
      return { format, prompt: str('prompt'), completion: str('completion') };
    case 'qa': {
      const raw = field('answers') ?? (fields.answers ? undefined : get(rec.fields, 'answer'));
      const answer = firstAnswer(raw);
      if (answer === undefined)
        throw new BadRecord(
          rec.origin,
          raw === undefined
            ? `missing field ${label('answers')}`
            : `field ${label('answers')} has no answer text (expected {"text": [...]}, [{"text": ...}], ["..."] or a string)`,
          `map the field with "fields": {"answers": "<name>"}`,
        );
      return { format, context: str('context'), question: str('question'), answer };
    }
    case 'chat': {
      const v = field('messages');
      if (!Array.isArray(v) || v.length === 0) throw new BadRecord(rec.origin, `field ${label('messages')} must be a non-empty array of {"role", "content"}`);
      const messages = v.map((m, k) => {
        if (!m || typeof m !== 'object' || typeof (m as ChatMessage).role !== 'string' || typeof (m as ChatMessage).content !== 'string')
          throw new BadRecord(rec.origin, `message ${k} must be {"role": string, "content": string}`);
        return { role: (m as ChatMessage).role, content: (m as ChatMessage).content };
      });
      if (!messages.some((m) => m.role === 'assistant')) throw new BadRecord(rec.origin, 'the conversation has no assistant turn, so nothing would be trained');
      return { format, messages };
    }
  }
}

/** The string fields of an example, for cleaning and PII (read and written back in this order). */
export function textsOf(e: Example): string[] {
  switch (e.format) {
    case 'text':
      return [e.text];
    case 'instruction':
      return [e.instruction, e.input, e.output];
    case 'completion':
      return [e.prompt, e.completion];
    case 'qa':
      return [e.context, e.question, e.answer];
    case 'chat':
      return e.messages.map((m) => m.content);
  }
}

export function withTexts(e: Example, t: string[]): Example {
  switch (e.format) {
    case 'text':
      return { format: 'text', text: t[0] };
    case 'instruction':
      return { format: 'instruction', instruction: t[0], input: t[1], output: t[2] };
    case 'completion':
      return { format: 'completion', prompt: t[0], completion: t[1] };
    case 'qa':
      return { format: 'qa', context: t[0], question: t[1], answer: t[2] };
    case 'chat':
      return { format: 'chat', messages: e.messages.map((m, k) => ({ role: m.role, content: t[k] })) };
  }
}
