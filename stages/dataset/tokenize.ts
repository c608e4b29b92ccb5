// Turns rendered segments into token ids and labels (labels[i] = ids[i] where trained, -100 where not), applies the
// maxTokens cap, and packs `text` documents into fixed-length sequences with EOS between documents.
import { IdBuffer, type ModelTokenizer } from '../../src/hf/index.ts';
import type { Segment } from './render.ts';

export const IGNORE = -100;

export interface Tokenized {
  ids: number[];
  labels: number[];
}

/** Prompt / response style (no specials inside the template): prefix specials + prompt + response + EOS (trained). */
export function tokenizeSegments(segs: Segment[], tok: ModelTokenizer, opts: { specials: boolean; eos: boolean }): Tokenized {
  const ids: number[] = [];
  const labels: number[] = [];
  if (opts.specials) for (const id of tok.prefixIds) ids.push(id), labels.push(IGNORE);
  segs.forEach((s, k) => {
    const part = k === 0 ? tok.encode(s.text, { special: false }) : tok.encodeContinuation(s.text);
    for (const id of part) {
      ids.push(id);
      labels.push(s.loss ? id : IGNORE);
    }
  });
  if (opts.eos && tok.eosId !== undefined) {
    ids.push(tok.eosId);
    labels.push(segs.length && segs[segs.length - 1].loss ? tok.eosId : IGNORE);
  }
  return { ids, labels };
}

/** The ids of one `text` document, prefix specials + text + EOS (all trained), appended to `out`; returns their count. */
export function tokenizeDocumentTo(text: string, tok: ModelTokenizer, out: IdBuffer): number {
  const start = out.length;
  out.pushArray(tok.prefixIds);
  tok.encodeTo(text, out);
  return finishDocument(tok, out, start);
}

/** The suffix specials and EOS after a document's text ids (`start`: where its ids begin); returns their count. */
function finishDocument(tok: ModelTokenizer, out: IdBuffer, start: number): number {
  out.pushArray(tok.suffixIds);
  if (tok.eosId !== undefined && (out.length === start || out.data[out.length - 1] !== tok.eosId)) out.push(tok.eosId);
  return out.length - start;
}

const textIds = new IdBuffer(1 << 16); // tokenizeDocumentsTo's texts' ids, reused from call to call

/**
 * tokenizeDocumentTo of each text, the texts encoded in one batch (tok.encodeEachTo) where the tokenizer has it; the
 * end of each document's ids into `ends`. `joined`: texts.join(''), where the caller has it already.
 */
export function tokenizeDocumentsTo(texts: readonly string[], tok: ModelTokenizer, out: IdBuffer, ends: number[], joined?: string): void {
  if (!tok.encodeEachTo) {
    for (const t of texts) {
      tokenizeDocumentTo(t, tok, out);
      ends.push(out.length);
    }
    return;
  }
  const textEnds = new Int32Array(texts.length);
  textIds.length = 0;
  tok.encodeEachTo(texts, textIds, textEnds, joined);
  for (let k = 0, from = 0; k < texts.length; k++) {
    const start = out.length;
    out.pushArray(tok.prefixIds);
    out.pushIds(textIds.data.subarray(from, textEnds[k]));
    from = textEnds[k];
    finishDocument(tok, out, start);
    ends.push(out.length);
  }
}

export type CapOutcome = 'kept' | 'truncated' | 'dropped' | 'dropped-no-loss';

/** Applies maxTokens: drop, or keep the first maxTokens (dropped anyway when no trained token is left). */
export function capLength(t: Tokenized, maxTokens: number | null, mode: 'drop' | 'truncate'): { outcome: CapOutcome; value?: Tokenized } {
  if (maxTokens === null || t.ids.length <= maxTokens) return { outcome: 'kept', value: t };
  if (mode === 'drop') return { outcome: 'dropped' };
  const value = { ids: t.ids.slice(0, maxTokens), labels: t.labels.slice(0, maxTokens) };
  return value.labels.some((l) => l !== IGNORE) ? { outcome: 'truncated', value } : { outcome: 'dropped-no-loss' };
}

/** Concatenates documents and cuts the stream into seqLen-token sequences (the last may be shorter; a 1-token tail is dropped). */
export function packDocuments(docs: number[][], seqLen: number): number[][] {
  const out: number[][] = [];
  let cur: number[] = [];
  for (const d of docs) {
    let pos = 0;
    while (pos < d.length) {
      const take = Math.min(seqLen - cur.length, d.length - pos);
      for (let i = 0; i < take; i++) cur.push(d[pos + i]);
      pos += take;
      if (cur.length === seqLen) {
        out.push(cur);
        cur = [];
      }
    }
  }
  if (cur.length >= 2) out.push(cur);
  return out;
}

/** packDocuments over documents already concatenated in one stream of `total` ids: [start, end) of each sequence. */
export function packStream(total: number, seqLen: number): [number, number][] {
  const out: [number, number][] = [];
  let at = 0;
  for (; at + seqLen <= total; at += seqLen) out.push([at, at + seqLen]);
  if (total - at >= 2) out.push([at, total]);
  return out;
}
