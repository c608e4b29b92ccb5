// samples.txt of a dataset artifact: the first examples of each split decoded, with the tokens that carry loss
// between ⟦ and ⟧ (`peftmake show` prints it, highlighting those parts on a terminal).
import type { ModelTokenizer } from '../../src/hf/index.ts';
import type { OutputRecord } from './output-record.ts';
import { IGNORE } from './tokenize.ts';

export const LOSS_OPEN = '⟦';
export const LOSS_CLOSE = '⟧';

/** The decoded record with its loss-carrying runs marked; boundaries are found by decoding prefixes. */
export function markLoss(r: OutputRecord, tok: ModelTokenizer): string {
  const full = tok.decode(r.ids, { skipSpecial: false });
  if (r.labels === r.ids || r.labels.every((l) => l !== IGNORE)) return `${LOSS_OPEN}${full}${LOSS_CLOSE}`;
  const cuts: { at: number; open: boolean }[] = [];
  for (let i = 0; i < r.ids.length; i++) {
    const on = r.labels[i] !== IGNORE;
    const prev = i > 0 && r.labels[i - 1] !== IGNORE;
    if (on !== prev) cuts.push({ at: i, open: on });
  }
  if (r.labels[r.labels.length - 1] !== IGNORE) cuts.push({ at: r.ids.length, open: false });
  let out = '';
  let pos = 0;
  for (const c of cuts) {
    const at = c.at === r.ids.length ? full.length : Math.min(full.length, tok.decode(r.ids.slice(0, c.at), { skipSpecial: false }).length);
    // A marker goes before the spaces the next token carries, so " Denver" reads as "⟦Denver".
    let p = at;
    if (c.open) while (p < full.length && full[p] === ' ') p++;
    out += full.slice(pos, p) + (c.open ? LOSS_OPEN : LOSS_CLOSE);
    pos = p;
  }
  return out + full.slice(pos);
}

export function renderSamples(train: OutputRecord[], valid: OutputRecord[], tok: ModelTokenizer, n = 3): string {
  const parts: string[] = [`Loss-carrying tokens are between ${LOSS_OPEN} and ${LOSS_CLOSE}.`];
  for (const [name, recs] of [
    ['train', train],
    ['valid', valid],
  ] as const) {
    recs.slice(0, n).forEach((r, i) => {
      const loss = r.labels.filter((l) => l !== IGNORE).length;
      parts.push(`--- ${name}[${i}]: ${r.ids.length} tokens, ${loss} with loss ---\n${markLoss(r, tok)}`);
    });
  }
  return parts.join('\n\n') + '\n';
}
