// Reads a dataset artifact's train.jsonl / valid.jsonl ({"ids", "labels", ...} per line, labels -100 = no loss,
// Hugging Face convention: the trainer shifts) and turns records into the engine's padded micro-batches.
import { existsSync, readFileSync } from 'node:fs';
import type { MicroBatch } from '../../src/engine/index.ts';
import { PeftError } from '../../src/errors.ts';
import { mulberry32 } from '../../src/util/random.ts';

export interface TokenRecord {
  ids: number[];
  labels: number[];
  /** Any other fields the dataset kept (text, answers ...). */
  [field: string]: unknown;
}

const isIntArray = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => Number.isInteger(x));

/** Parses one dataset split; a missing file is an empty split. Malformed lines name file and line. */
export function readTokenRecords(file: string): TokenRecord[] {
  if (!existsSync(file)) return [];
  const out: TokenRecord[] = [];
  const lines = readFileSync(file, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    let rec: TokenRecord;
    try {
      rec = JSON.parse(line) as TokenRecord;
    } catch (err) {
      throw new PeftError('E_DATA', `${file}:${i + 1}: not valid JSON (${(err as Error).message})`, { file, line: i + 1 });
    }
    if (!rec || !isIntArray(rec.ids) || !isIntArray(rec.labels) || rec.ids.length !== rec.labels.length)
      throw new PeftError('E_DATA', `${file}:${i + 1}: expected {"ids": [int...], "labels": [int...]} of equal length`, {
        file,
        line: i + 1,
        hint: 'rebuild the dataset stage that wrote this file',
      });
    out.push(rec);
  }
  return out;
}

/**
 * Ids a model has no embedding for (a dataset tokenized for another model, or by a tokenizer that does not match the
 * weights): an E_DATA error naming the dataset file and line, the model and the fix, before the engine sees them.
 */
export function checkRecordVocab(file: string, records: readonly TokenRecord[], vocabSize: number, model: string, fix: string): void {
  for (let r = 0; r < records.length; r++)
    for (const id of records[r].ids)
      if (id < 0 || id >= vocabSize)
        throw new PeftError('E_DATA', `${file}:${r + 1}: token id ${id} is outside the vocabulary of ${model} (${vocabSize} token ids); ${fix}`, {
          file,
          line: r + 1,
        });
}

/** Number of tokens that carry loss (labels[t] != -100 for t >= 1: position 0 has no context). */
export function lossTokens(r: TokenRecord): number {
  let n = 0;
  for (let t = 1; t < r.labels.length; t++) if (r.labels[t] !== -100) n++;
  return n;
}

export function shuffled<T>(xs: T[], seed: number): T[] {
  const out = [...xs];
  const rand = mulberry32(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Truncates to seqLen and right-pads to exactly T tokens (pads carry no loss; causal attention never sees them);
 * `length` is the real tokens (the attention mask). */
export function padRow(r: TokenRecord, T: number, padId: number): { ids: number[]; labels: number[]; length: number } {
  const ids = r.ids.slice(0, T);
  const labels = r.labels.slice(0, T);
  const length = ids.length;
  while (ids.length < T) {
    ids.push(padId);
    labels.push(-100);
  }
  return { ids, labels, length };
}

/** The common row length: the longest record, capped at seqLen. */
export function rowLength(records: TokenRecord[], seqLen: number): number {
  return Math.max(2, Math.min(seqLen, Math.max(0, ...records.map((r) => r.ids.length))));
}

/**
 * `count` micro-batches of `batchSize` rows for training. Each epoch visits the records (with some loss) in a new
 * seeded order; the stream is cut into groups of `groupMicro` micro-batches (one engine call: all rows of a group
 * share one padded length). With `groupByLength`, each epoch is sorted by length into such groups whose order is then
 * shuffled (like transformers' group_by_length), so short examples are not padded to the longest one.
 */
export function trainBatches(
  records: TokenRecord[],
  opts: { batchSize: number; seqLen: number; padId: number; seed: number; count: number; groupMicro?: number; groupByLength?: boolean },
): MicroBatch[] {
  const clip = (r: TokenRecord) => ({ ids: r.ids.slice(0, opts.seqLen), labels: r.labels.slice(0, opts.seqLen) });
  const usable = records.map(clip).filter((r) => lossTokens(r) > 0);
  if (usable.length === 0)
    throw new PeftError('E_DATA', 'the training set has no record with loss tokens inside seqLen', { hint: 'raise seqLen or check the dataset' });
  const group = Math.max(1, opts.groupMicro ?? opts.count);
  const perGroup = group * opts.batchSize;
  const stream: TokenRecord[] = [];
  for (let epoch = 0; stream.length < opts.count * opts.batchSize; epoch++) {
    let order = shuffled(usable, opts.seed * 1000003 + epoch);
    if (opts.groupByLength && usable.length > perGroup) {
      const sorted = [...order].sort((a, b) => a.ids.length - b.ids.length);
      const groups: TokenRecord[][] = [];
      for (let i = 0; i < sorted.length; i += perGroup) groups.push(sorted.slice(i, i + perGroup));
      order = shuffled(groups, opts.seed * 7919 + epoch).flat();
    }
    stream.push(...order);
  }
  const out: MicroBatch[] = [];
  for (let g = 0; g * group < opts.count; g++) {
    const n = Math.min(group, opts.count - g * group);
    const rows = stream.slice(g * perGroup, g * perGroup + n * opts.batchSize);
    const T = rowLength(rows, opts.seqLen);
    for (let k = 0; k < n; k++) {
      const mb = rows.slice(k * opts.batchSize, (k + 1) * opts.batchSize).map((r) => padRow(r, T, opts.padId));
      out.push({ inputIds: mb.map((r) => r.ids), labels: mb.map((r) => r.labels), lengths: mb.map((r) => r.length) });
    }
  }
  return out;
}

/** Micro-batches of micro-batches needed for one pass over the data. */
export function batchesPerEpoch(records: number, batchSize: number): number {
  return Math.max(1, Math.ceil(records / batchSize));
}

/** Validation rows one per micro-batch (B = 1), padded to one length, with each row's loss-token count for weighting. */
export function validBatches(records: TokenRecord[], seqLen: number, padId: number): { batches: MicroBatch[]; weights: number[] } {
  const rows = records.map((r) => ({ ids: r.ids.slice(0, seqLen), labels: r.labels.slice(0, seqLen) })).filter((r) => lossTokens(r) > 0);
  if (rows.length === 0) return { batches: [], weights: [] };
  const T = rowLength(rows, seqLen);
  return {
    batches: rows.map((r) => {
      const p = padRow(r, T, padId);
      return { inputIds: [p.ids], labels: [p.labels] };
    }),
    weights: rows.map(lossTokens),
  };
}

/** Loss-token weighted mean of per-row losses. */
export function weightedMean(losses: number[], weights: number[]): number {
  let s = 0;
  let w = 0;
  for (let i = 0; i < losses.length; i++) {
    s += losses[i] * weights[i];
    w += weights[i];
  }
  return w > 0 ? s / w : NaN;
}
