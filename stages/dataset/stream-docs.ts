// One chunk of a `text` source on the streamed path (stream-prepare.ts): documents split off its bytes, cleaned, PII
// handled, length-filtered, hashed (content digest for dedup, seeded ranks for limit / split) and tokenized — the
// same functions as the in-memory path, so the same bytes. Runs in a dataset worker, or inline with one worker.
import { hash } from 'node:crypto';
import { IdBuffer } from '../../src/hf/id-buffer.ts';
import type { ModelTokenizer } from '../../src/hf/tokenizer.ts';
import { textAddon } from '../../src/util/text-addon.ts';
import { cleanTextItem, type PiiTally } from './clean-item.ts';
import { cleanTexts } from './clean.ts';
import { rankPrefix, seededRank } from './sample.ts';
import type { DatasetConfig, PiiType } from './schema.ts';
import { textDocuments } from './sources/text-files.ts';
import { tokenizeDocumentsTo } from './tokenize.ts';

export interface ChunkJob {
  op: 'chunk';
  file: string; // as messages name it
  bytes: Uint8Array; // whole lines (paragraph mode: whole paragraphs) of UTF-8
  first: boolean; // the file's first chunk: a BOM at its start is dropped
  mode: 'file' | 'paragraph' | 'line';
  clean: DatasetConfig['clean'];
  types: readonly PiiType[];
  validSeed: number | null; // seed of the 'valid' rank (null: not needed)
  sampleSeed: number | null; // seed of the 'sample' rank (null: not needed)
  tokenizerDir: string;
  vocabSize: number; // ids at or past it are reported in `bad` (0: not checked)
}

/** What a chunk gave: counts, and per document that passed the filters its line, digest, ranks and ids. */
export interface ChunkResult {
  op: 'chunk';
  lines: number; // "\n" in the chunk
  docs: number;
  empty: number;
  pii: number; // dropped for PII (pii: drop)
  short: number;
  long: number;
  tally: PiiTally;
  line: Int32Array; // 1-based within the chunk
  digest: Int32Array; // 4 per document: the first 128 bits of the content key's SHA-1
  rankValid: Float64Array;
  rankSample: Float64Array;
  ends: Int32Array; // end of each document's ids in `ids`
  ids: Int32Array;
  bad: Int32Array; // the first id at or past vocabSize, or -1
  /** Not valid UTF-8: the first bad line (1-based within the chunk). */
  notUtf8?: number;
}

const REPLACEMENT = Buffer.from('\uFFFD', 'utf8');
/** The ids of a chunk, reused from chunk to chunk (its result gets a copy of just its ids). */
const scratch = new IdBuffer(1 << 20);

function countLines(b: Buffer): number {
  let n = 0;
  for (let at = b.indexOf(10); at >= 0; at = b.indexOf(10, at + 1)) n++;
  return n;
}

export function processChunk(job: ChunkJob, tok: ModelTokenizer): ChunkResult {
  const buf = Buffer.from(job.bytes.buffer, job.bytes.byteOffset, job.bytes.byteLength);
  let text = buf.toString('utf8');
  const lines = countLines(buf);
  const empty = new Int32Array(0);
  const res: ChunkResult = {
    op: 'chunk',
    lines,
    docs: 0,
    empty: 0,
    pii: 0,
    short: 0,
    long: 0,
    tally: { byType: {}, records: 0 },
    line: empty,
    digest: empty,
    rankValid: new Float64Array(0),
    rankSample: new Float64Array(0),
    ends: empty,
    ids: empty,
    bad: empty,
  };
  if (text.includes('\uFFFD') && !buf.includes(REPLACEMENT)) {
    res.notUtf8 = 1 + (text.slice(0, text.indexOf('\uFFFD')).match(/\n/g)?.length ?? 0);
    return res;
  }
  if (job.first && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const docs = textDocuments(text, job.file, job.mode);
  res.docs = docs.length;
  const c = job.clean;
  const line: number[] = [];
  const kept: string[] = [];
  const cleaned = cleanTexts(
    docs.map((d) => d.fields.text as string),
    c,
  );
  for (let j = 0; j < docs.length; j++) {
    const d = docs[j];
    const r = cleanTextItem({ example: { format: 'text', text: d.fields.text as string }, origin: d.origin }, cleaned[j], c, job.types, res.tally);
    if (r === 'empty') res.empty++;
    else if (r === 'pii') res.pii++;
    else {
      const t = (r.example as { text: string }).text;
      if (t.length < c.minChars) res.short++;
      else if (c.maxChars !== null && t.length > c.maxChars) res.long++;
      else {
        kept.push(t);
        line.push(d.origin.line ?? 1);
      }
    }
  }
  const n = kept.length;
  res.line = Int32Array.from(line);
  const joined = digestAndRank(kept, job, res);
  const ends: number[] = [];
  const out = scratch;
  out.length = 0;
  tokenizeDocumentsTo(kept, tok, out, ends, joined);
  const bad = new Int32Array(n).fill(-1);
  if (job.vocabSize > 0)
    for (let j = 0, k = 0; j < n; j++)
      for (; k < ends[j]; k++)
        if (out.data[k] >= job.vocabSize) {
          bad[j] = out.data[k];
          k = ends[j];
          break;
        }
  res.ends = Int32Array.from(ends);
  res.ids = out.data.slice(0, out.length);
  res.bad = bad;
  return res;
}

/**
 * Per kept text: its content digest (contentKey's: the first 128 bits of the text's SHA-1) and seeded ranks (from the
 * digest's base64) — for the whole chunk in one call of the peft_text addon where it is built (returns the texts
 * joined, as that call took them), else per text here.
 */
function digestAndRank(texts: readonly string[], job: ChunkJob, res: ChunkResult): string | undefined {
  const n = texts.length;
  res.rankValid = new Float64Array(n);
  res.rankSample = new Float64Array(n);
  const addon = textAddon();
  if (addon && n > 0) {
    const ends = new Int32Array(n);
    for (let k = 0, chars = 0; k < n; k++) ends[k] = chars += texts[k].length;
    const prefixes: string[] = [];
    if (job.validSeed !== null) prefixes.push(rankPrefix(job.validSeed, 'valid'));
    if (job.sampleSeed !== null) prefixes.push(rankPrefix(job.sampleSeed, 'sample'));
    const joined = texts.join('');
    const r = addon.docDigests(joined, ends, prefixes);
    res.digest = r.digest;
    const p = prefixes.length;
    for (let k = 0; k < n; k++) {
      if (job.validSeed !== null) res.rankValid[k] = r.ranks[k * p];
      if (job.sampleSeed !== null) res.rankSample[k] = r.ranks[k * p + p - 1];
    }
    return joined;
  }
  res.digest = new Int32Array(4 * n);
  for (let k = 0; k < n; k++) {
    const sha = hash('sha1', texts[k], 'buffer'); // contentKey's digest (one text: the text itself)
    const key = sha.toString('base64');
    for (let w = 0; w < 4; w++) res.digest[4 * k + w] = sha.readInt32LE(4 * w);
    if (job.validSeed !== null) res.rankValid[k] = seededRank(job.validSeed, 'valid', key);
    if (job.sampleSeed !== null) res.rankSample[k] = seededRank(job.sampleSeed, 'sample', key);
  }
  return undefined;
}

/** The ArrayBuffers of a result, to transfer instead of copy. */
export function chunkTransfer(r: ChunkResult): ArrayBuffer[] {
  return [r.line, r.digest, r.rankValid, r.rankSample, r.ends, r.ids, r.bad]
    .map((a) => a.buffer as ArrayBuffer)
    .filter((b, i, all) => b.byteLength > 0 && all.indexOf(b) === i);
}
