// Cleaning one item: every text field through cleanText, then PII found / redacted; what is left, or why it went.
// The same function runs on the main thread and in the dataset workers (parallel.ts), so both give the same bytes.
import { cleanText } from './clean.ts';
import { textsOf, withTexts, type Item } from './fields.ts';
import { findPii, redactPii } from './pii.ts';
import type { DatasetConfig, PiiType } from './schema.ts';

/** PII counts of the items cleaned so far: by type in first-seen order, and how many items had any. */
export interface PiiTally {
  byType: Record<string, number>;
  records: number;
}

/** The cleaned item, or why it was dropped: nothing left after cleaning ('empty'), or PII with pii: drop ('pii'). */
export function cleanItem(it: Item, c: DatasetConfig['clean'], types: readonly PiiType[], pii: PiiTally): Item | 'empty' | 'pii' {
  // A completion keeps one leading space where it had one: it continues the prompt directly.
  const texts = textsOf(it.example).map((t, k) => {
    const cleaned = cleanText(t, c);
    return it.example.format === 'completion' && k === 1 && c.whitespace && /^\s/.test(t) && cleaned !== '' ? ` ${cleaned}` : cleaned;
  });
  return finishItem(it, texts, c, types, pii);
}

/** cleanItem of a `text` item whose text went through cleanText already (`cleaned`: cleanTexts does a chunk's at once). */
export function cleanTextItem(it: Item, cleaned: string, c: DatasetConfig['clean'], types: readonly PiiType[], pii: PiiTally): Item | 'empty' | 'pii' {
  return finishItem(it, [cleaned], c, types, pii);
}

/** PII found / handled in the cleaned texts, then the empty check. */
function finishItem(it: Item, cleaned: string[], c: DatasetConfig['clean'], types: readonly PiiType[], pii: PiiTally): Item | 'empty' | 'pii' {
  let texts = cleaned;
  if (c.pii !== 'off') {
    let found = 0;
    texts = texts.map((t) => {
      const m = findPii(t, types);
      for (const x of m) pii.byType[x.type] = (pii.byType[x.type] ?? 0) + 1;
      found += m.length;
      return c.pii === 'redact' ? redactPii(t, m) : t;
    });
    if (found) pii.records++;
    if (found && c.pii === 'drop') return 'pii';
  }
  if (texts.join('').trim() === '') return 'empty';
  return { example: withTexts(it.example, texts), origin: it.origin };
}
