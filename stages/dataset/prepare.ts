// The dataset pipeline in memory: read → fields → clean → PII → length filter → dedup → limit → split → render →
// tokenize → maxTokens → (text) pack. Counts every step; an empty result names the step that emptied it.
import { join } from 'node:path';
import { PeftError } from '../../src/errors.ts';
import { compileChatTemplate, parseTemplateDate, type ChatTemplate, type ModelTokenizer, type PromptFormat } from '../../src/hf/index.ts';
import { effectiveMaxTokens } from './config.ts';
import { contentKey, NearDupIndex } from './dedup.ts';
import { cleanItem } from './clean-item.ts';
import { textsOf, toExample, type Item } from './fields.ts';
import { BadRecord, BadRecordSink, where, type Origin } from './records.ts';
import type { OutputRecord } from './output-record.ts';
import { PackedRecord, recordLength, recordLossCount } from './packed-record.ts';
import { DEFAULT_TEMPLATES, renderExample, type Segment } from './render.ts';
import { seq2seqTokens } from './seq2seq.ts';
import { sampleIndices, validIndices } from './sample.ts';
import { PII_TYPES, type DatasetConfig, type DatasetSource } from './schema.ts';
import { readSource } from './sources/index.ts';
import { lengthStats, type DatasetStats, type StepStats } from './stats.ts';
import { IdBuffer } from '../../src/hf/index.ts';
import { ParallelPrep, workerCount } from './parallel.ts';
import { capLength, IGNORE, packStream, tokenizeDocumentTo, tokenizeSegments, type Tokenized } from './tokenize.ts';

export interface PrepareOptions {
  name: string; // full stage name, e.g. datasets.qa
  projectDir: string;
  /** How stats.json names the tokenizer's model (project-relative inside the project); default its directory. */
  tokenizerLabel?: string;
  tokenizer: ModelTokenizer;
  /** The model's number of token ids (config.json vocab_size) and how messages name it: every id must be below it. */
  vocab?: { size: number; model: string };
  signal?: AbortSignal;
  progress?: (message: string, step?: number, total?: number) => void;
  /** An encoder-decoder model (T5): records are prompt -> encoder, answer -> decoder target (seq2seq.ts). */
  seq2seq?: { decoderStart: number };
  /** Threads for cleaning and tokenizing (1: this thread only; on the streamed path this thread is one of them); default one per core from PARALLEL_MIN_BYTES of source. */
  workers?: number;
  /** Bytes per chunk of a text source on the streamed path (stream-chunks.ts; tests make it small). */
  chunkBytes?: number;
}

export interface Prepared {
  train: OutputRecord[];
  valid: OutputRecord[];
  stats: DatasetStats;
  bytesIn: number;
}

interface Cleaned {
  item: Item;
  key: string;
  /** Where a dataset worker keeps this item's cleaned text (the parallel path); `item` is then the uncleaned one. */
  ref?: number;
}

export function checkAbort(signal?: AbortSignal): void {
  if (signal?.aborted) throw new PeftError('E_CANCELLED', 'dataset preparation cancelled');
}

/** Records the step and throws when it removed everything. */
export function step(
  name: string,
  stats: StepStats[],
  stepName: string,
  inCount: number,
  outCount: number,
  removed: Record<string, number>,
  what = 'records',
): void {
  stats.push({ step: stepName, in: inCount, out: outCount, removed });
  if (outCount === 0 && inCount > 0) {
    const why = Object.entries(removed)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${k}: ${n}`)
      .join(', ');
    throw new PeftError('E_DATA', `${name}: no ${what} left after ${stepName}: it removed ${inCount} of ${inCount} (${why})`, {
      step: stepName,
      removed,
      hint: "loosen that filter (see the dataset's clean / maxTokens settings) or check the source",
    });
  }
}

async function readItems(src: DatasetSource, part: 'train' | 'valid', config: DatasetConfig, opts: PrepareOptions, sink: BadRecordSink, stats: DatasetStats) {
  const read = await readSource(src, {
    stage: opts.name,
    projectDir: opts.projectDir,
    sink,
    pointer: `/datasets/${opts.name.replace(/^datasets\./, '')}/${part === 'train' ? 'source' : 'split/source'}`,
    signal: opts.signal,
    onProgress: (m) => opts.progress?.(m),
  });
  stats.sources.push({
    split: part,
    files: read.files,
    bytes: read.bytes,
    ...(read.hub ? { hub: { id: read.hub.id, sha: read.hub.sha, fromCache: read.hub.fromCache } } : {}),
  });
  if (read.records.length === 0 && sink.count === 0) {
    const what = src.files ? `files ${src.files.join(', ')}` : src.hub ? `hub dataset ${src.hub}` : 'inline examples';
    throw new PeftError('E_DATA', `${opts.name}: the ${part} source (${what}) has no records`, { hint: 'check that the files are not empty' });
  }
  const items: Item[] = [];
  const badBefore = sink.count;
  for (const rec of read.records) {
    try {
      items.push({ example: toExample(rec, config.format, config.fields), origin: rec.origin });
    } catch (err) {
      if (err instanceof BadRecord) sink.report(err);
      else throw err;
    }
  }
  return { items, bytes: read.bytes, readCount: read.records.length + badBefore, badFields: sink.count - badBefore };
}

/**
 * What cleaning made of one item: the cleaned item with its length in characters (and its content key when the
 * worker that cleaned it computed one; `ref`: that worker keeps the cleaned text under this index), or why it went.
 */
export type CleanOutcome = { item: Item; len: number; key?: string; ref?: number } | 'empty' | 'pii';

function cleanItems(items: Item[], part: string, config: DatasetConfig, opts: PrepareOptions, stats: DatasetStats, outcomes?: CleanOutcome[]): Cleaned[] {
  const c = config.clean;
  const types = c.piiTypes.length ? c.piiTypes : PII_TYPES;
  // Cleaning, then PII (here, or done already by the dataset workers).
  const done =
    outcomes ??
    items.map((it): CleanOutcome => {
      const r = cleanItem(it, c, types, stats.pii);
      return typeof r === 'string' ? r : { item: r, len: textsOf(r.example).reduce((a, t) => a + t.length, 0) };
    });
  const afterPii: Exclude<CleanOutcome, string>[] = [];
  let piiDropped = 0;
  let emptied = 0;
  for (const o of done) {
    if (o === 'pii') piiDropped++;
    else if (o === 'empty') emptied++;
    else afterPii.push(o);
  }
  step(opts.name, stats.steps, `clean+pii/${part}`, items.length, afterPii.length, { 'empty after cleaning': emptied, 'pii (drop)': piiDropped });

  // Length filters on the characters of all fields together.
  const sized: Exclude<CleanOutcome, string>[] = [];
  let short = 0;
  let long = 0;
  for (const o of afterPii) {
    if (o.len < c.minChars) short++;
    else if (c.maxChars !== null && o.len > c.maxChars) long++;
    else sized.push(o);
  }
  step(opts.name, stats.steps, `length/${part}`, afterPii.length, sized.length, { [`minChars ${c.minChars}`]: short, [`maxChars ${c.maxChars}`]: long });

  // Deduplication.
  const seen = new Set<string>();
  const near = c.dedup === 'near' ? new NearDupIndex(c.nearDupThreshold) : undefined;
  const kept: Cleaned[] = [];
  let exact = 0;
  let nearDup = 0;
  for (const o of sized) {
    const key = o.key ?? contentKey(textsOf(o.item.example));
    if (c.dedup !== 'none') {
      if (seen.has(key)) {
        exact++;
        continue;
      }
      seen.add(key);
      if (near?.isDuplicate(textsOf(o.item.example).join('\n'))) {
        nearDup++;
        continue;
      }
    }
    kept.push({ item: o.item, key, ref: o.ref });
  }
  step(opts.name, stats.steps, `dedup/${part}`, sized.length, kept.length, { 'exact duplicate': exact, 'near duplicate': nearDup });
  return kept;
}

interface Encoded {
  tokenized: Tokenized;
  text: string;
  enc?: number[]; // seq2seq: the encoder's ids
}

/** `text` documents tokenized into one stream (documents back to back, as packing joins them) with their lengths. */
interface TextStream {
  ids: IdBuffer;
  lengths: number[];
}

/** Records removed while tokenizing one part: counted in the dataset stats and in the tokens/<part> step line. */
export class TokenRemovals {
  readonly counts: Record<string, number>;
  private readonly overLengthKey: string;

  constructor(
    maxTokens: number | null,
    private readonly stats: DatasetStats,
  ) {
    this.overLengthKey = `over maxTokens ${maxTokens} (drop)`;
    this.counts = { [this.overLengthKey]: 0, 'no answer left after truncation': 0, 'bad record': 0 };
  }

  overLength(): void {
    this.stats.maxTokens.dropped++;
    this.counts[this.overLengthKey]++;
  }

  noLossLeft(): void {
    this.stats.maxTokens.droppedNoLoss++;
    this.counts['no answer left after truncation']++;
  }

  badRecord(): void {
    this.counts['bad record']++;
  }
}

/**
 * A tokenizer that gives ids the model has no embedding for (its tokenizer.json belongs to another model): an error
 * naming the record, the tokenizer and the model's vocab_size, instead of the engine's complaint at training time.
 */
function checkVocab(ids: ArrayLike<number>, from: number, to: number, origin: Origin, tok: ModelTokenizer, opts: PrepareOptions): void {
  if (!opts.vocab) return;
  for (let i = from; i < to; i++) if (ids[i] >= opts.vocab.size) throw vocabError(ids[i], origin, tok, opts);
}

/** checkVocab's error for `id` of the record at `origin`. */
export function vocabError(id: number, origin: Origin, tok: ModelTokenizer, opts: PrepareOptions): PeftError {
  const { size, model } = opts.vocab!;
  const token = tok.idToToken(id);
  return new PeftError(
    'E_MODEL',
    `${where(origin)}: the tokenizer ${join(opts.tokenizerLabel ?? tok.dir, 'tokenizer.json')} turns this record into token id ${id}${token === undefined ? '' : ` (${JSON.stringify(token)})`}, but ${model} has ${size} token ids (config.json vocab_size): that tokenizer.json does not belong to the model's weights; use the tokenizer saved with them`,
    { file: origin.file, line: origin.line },
  );
}

/** Every 2000th item of a tokenize loop: honours an abort and reports progress. */
function tokenizeTick(k: number, part: 'train' | 'valid', total: number, opts: PrepareOptions): void {
  if (k % 2000 !== 0) return;
  checkAbort(opts.signal);
  opts.progress?.(`tokenizing ${part}`, k, total);
}

/** encodeItems for `text`: documents straight into one id stream, maxTokens applied in place. */
function encodeTextItems(
  items: Cleaned[],
  part: 'train' | 'valid',
  config: DatasetConfig,
  tok: ModelTokenizer,
  opts: PrepareOptions,
  stats: DatasetStats,
  encodeDoc: (c: Cleaned, out: IdBuffer) => number = (c, out) => {
    if (c.item.example.format !== 'text') throw new Error('encodeTextItems: not a text example');
    return tokenizeDocumentTo(c.item.example.text, tok, out);
  },
): TextStream {
  const maxTokens = effectiveMaxTokens(config);
  // Sized for about a token per character (text usually has fewer), so the buffer rarely grows (growing copies it);
  // at most 2^26 ids (256 MB) up front, past that it grows as needed.
  let chars = 0;
  for (const { item } of items) if (item.example.format === 'text') chars += item.example.text.length + 4;
  const ids = new IdBuffer(Math.min(1 << 26, Math.max(1 << 16, chars)));
  const lengths: number[] = [];
  const removed = new TokenRemovals(maxTokens, stats);
  let k = 0;
  for (const c of items) {
    tokenizeTick(++k, part, items.length, opts);
    const start = ids.length;
    const n = encodeDoc(c, ids);
    checkVocab(ids.data, start, start + n, c.item.origin, tok, opts);
    if (maxTokens !== null && n > maxTokens) {
      // As capLength: labels are the ids themselves, so a truncation keeps loss unless nothing is left.
      if (config.overLength === 'drop') {
        ids.length = start;
        removed.overLength();
        continue;
      }
      if (maxTokens === 0) {
        ids.length = start;
        removed.noLossLeft();
        continue;
      }
      ids.length = start + maxTokens;
      stats.maxTokens.truncated++;
      lengths.push(maxTokens);
      continue;
    }
    lengths.push(n);
  }
  if (part === 'train' || items.length) step(opts.name, stats.steps, `tokens/${part}`, items.length, lengths.length, removed.counts);
  return { ids, lengths };
}

function streamRecords(stream: TextStream, config: DatasetConfig, tok: ModelTokenizer): OutputRecord[] {
  const data = stream.ids.data;
  return packStream(stream.ids.length, config.seqLen).map(([a, b]) => {
    const view = data.subarray(a, b);
    return new PackedRecord(view, tok); // the text decoded when the JSONL is written
  });
}

/** The chat template a dataset renders with (its own, else the model's), seeing the config's date as today. */
export function datasetChatTemplate(config: DatasetConfig, tok: ModelTokenizer, name: string): ChatTemplate | undefined {
  const where = `pipeline.json /datasets/${name.replace(/^datasets\./, '')}/template`;
  const date = config.template.date;
  if (date !== null && !parseTemplateDate(date))
    throw new PeftError('E_CONFIG_SEMANTIC', `${where}/date: "${date}" is not a calendar date`, {
      pointer: `${where.split(' ')[1]}/date`,
      hint: 'write the date as YYYY-MM-DD',
    });
  const specials = { bos_token: tok.bosToken, eos_token: tok.eosToken };
  if (config.template.chatTemplate) return compileChatTemplate(config.template.chatTemplate, specials, `${where}/chatTemplate`, { date });
  return tok.chatTemplate && compileChatTemplate(tok.chatTemplate.source, specials, join(tok.dir, 'tokenizer_config.json'), { date });
}

/** The prompt format the dataset renders its examples in, as prompt.json records it for adapters and inference. */
export function promptFormatOf(config: DatasetConfig, tok: ModelTokenizer, name: string): PromptFormat {
  const usesTemplate = config.format === 'chat' || (config.format !== 'text' && config.template.useChatTemplate);
  const tpl = usesTemplate ? datasetChatTemplate(config, tok, name) : undefined;
  if (tpl) return { format: config.format, chat: { template: tpl.source, date: tpl.date } };
  // the prompt template a single prompt fills at inference (qa's has two fields a prompt cannot fill: sent as is)
  const t = config.template;
  const promptTemplate =
    config.format === 'completion'
      ? { template: t.prompt ?? DEFAULT_TEMPLATES.completion.prompt, field: 'prompt' }
      : config.format === 'instruction'
        ? { template: t.promptNoInput ?? DEFAULT_TEMPLATES.instruction.promptNoInput, field: 'instruction' }
        : undefined;
  return { format: config.format, chat: null, ...(promptTemplate ? { promptTemplate } : {}) };
}

function encodeItems(
  items: Cleaned[],
  part: 'train' | 'valid',
  config: DatasetConfig,
  tok: ModelTokenizer,
  opts: PrepareOptions,
  stats: DatasetStats,
  sink: BadRecordSink,
): Encoded[] {
  const maxTokens = effectiveMaxTokens(config);
  const chatTemplate = datasetChatTemplate(config, tok, opts.name);
  const usesTemplate = config.format === 'chat' || (config.format !== 'text' && config.template.useChatTemplate);
  const out: Encoded[] = [];
  const removed = new TokenRemovals(maxTokens, stats);
  let k = 0;
  for (const { item } of items) {
    tokenizeTick(++k, part, items.length, opts);
    if (item.example.format === 'text') throw new Error('encodeItems: text examples go through encodeTextItems');
    let segs: Segment[];
    try {
      segs = renderExample(item.example, config, chatTemplate, item.origin);
    } catch (err) {
      if (!(err instanceof BadRecord)) throw err;
      sink.report(err);
      removed.badRecord();
      continue;
    }
    const s2s = opts.seq2seq ? seq2seqTokens(segs, tok, opts.seq2seq.decoderStart) : undefined;
    const tokenized: Tokenized = s2s ?? tokenizeSegments(segs, tok, { specials: !usesTemplate, eos: !usesTemplate });
    checkVocab(tokenized.ids, 0, tokenized.ids.length, item.origin, tok, opts);
    if (s2s) checkVocab(s2s.enc, 0, s2s.enc.length, item.origin, tok, opts);
    const text = segs.map((s) => s.text).join('');
    const capped = capLength(tokenized, maxTokens, config.overLength);
    if (capped.outcome === 'dropped') {
      removed.overLength();
      continue;
    }
    if (capped.outcome === 'dropped-no-loss') {
      removed.noLossLeft();
      continue;
    }
    if (capped.outcome === 'truncated') stats.maxTokens.truncated++;
    out.push({ tokenized: capped.value!, text, ...(s2s ? { enc: s2s.enc } : {}) });
  }
  if (part === 'train' || items.length) step(opts.name, stats.steps, `tokens/${part}`, items.length, out.length, removed.counts);
  return out;
}

function lossCount(labels: number[]): number {
  let n = 0;
  for (const l of labels) if (l !== IGNORE) n++;
  return n;
}

/** Records of the prompt / response formats (`text` goes through encodeTextItems and streamRecords). */
function toRecords(encoded: Encoded[]): OutputRecord[] {
  return encoded.map((e) => ({ ids: e.tokenized.ids, labels: e.tokenized.labels, text: e.text, ...(e.enc ? { enc: e.enc } : {}) }));
}

/** stats.json before the first step: every count zero. */
export function newDatasetStats(config: DatasetConfig, opts: PrepareOptions): DatasetStats {
  return {
    name: opts.name,
    format: config.format,
    tokenizer: opts.tokenizerLabel ?? opts.tokenizer.dir,
    sources: [],
    badRecords: { count: 0, examples: [] },
    steps: [],
    pii: { mode: config.clean.pii, byType: {}, records: 0 },
    maxTokens: { limit: effectiveMaxTokens(config), mode: config.overLength, dropped: 0, truncated: 0, droppedNoLoss: 0 },
    split: { mode: config.split.source ? 'source' : 'fraction', valid: config.split.valid, seed: config.split.seed ?? config.seed },
    lengths: { train: lengthStats([], 0), valid: lengthStats([], 0) },
    output: {
      train: 0,
      valid: 0,
      seqLen: config.format === 'text' ? config.seqLen : null,
      trainTokens: 0,
      validTokens: 0,
      trainLossTokens: 0,
      validLossTokens: 0,
    },
  };
}

export async function prepareDataset(config: DatasetConfig, opts: PrepareOptions): Promise<Prepared> {
  const sink = new BadRecordSink(config.onError);
  const stats = newDatasetStats(config, opts);

  // Train source.
  opts.progress?.('reading source');
  const train = await readItems(config.source, 'train', config, opts, sink, stats);
  step(opts.name, stats.steps, 'read/train', train.readCount, train.items.length, { 'bad record': train.readCount - train.items.length });
  checkAbort(opts.signal);
  // `text` with exact or no dedup runs on the dataset workers (the other formats render with templates, and near
  // dedup compares texts, on this thread).
  const count = config.format === 'text' && config.clean.dedup !== 'near' ? workerCount(train.bytes, opts.workers) : 1;
  const par = count > 1 ? new ParallelPrep(count) : undefined;
  try {
    return await prepareRest(config, opts, stats, sink, train, par);
  } finally {
    await par?.reset();
  }
}

async function prepareRest(
  config: DatasetConfig,
  opts: PrepareOptions,
  stats: DatasetStats,
  sink: BadRecordSink,
  train: Awaited<ReturnType<typeof readItems>>,
  par: ParallelPrep | undefined,
): Promise<Prepared> {
  const tok = opts.tokenizer;
  const splitSeed = config.split.seed ?? config.seed;
  const types = config.clean.piiTypes.length ? config.clean.piiTypes : PII_TYPES;
  const outcomes = async (items: Item[]): Promise<CleanOutcome[] | undefined> => par?.clean(items, config.clean, types, stats.pii, opts.signal);
  let trainItems = cleanItems(train.items, 'train', config, opts, stats, await outcomes(train.items));

  // Limit.
  const picked = sampleIndices(
    trainItems.map((c) => c.key),
    config.limit,
    config.sample,
    config.seed,
  );
  const limited = picked.map((i) => trainItems[i]);
  step(opts.name, stats.steps, 'limit', trainItems.length, limited.length, {
    [`limit ${config.limit} (${config.sample})`]: trainItems.length - limited.length,
  });
  trainItems = limited;

  // Split.
  let validItems: Cleaned[];
  let bytesIn = train.bytes;
  if (config.split.source) {
    const valid = await readItems(config.split.source, 'valid', config, opts, sink, stats);
    bytesIn += valid.bytes;
    step(opts.name, stats.steps, 'read/valid', valid.readCount, valid.items.length, { 'bad record': valid.readCount - valid.items.length });
    validItems = cleanItems(valid.items, 'valid', config, opts, stats, await outcomes(valid.items));
  } else {
    const held = validIndices(
      trainItems.map((c) => c.key),
      config.split.valid,
      splitSeed,
    );
    validItems = trainItems.filter((_, i) => held.has(i));
    const rest = trainItems.filter((_, i) => !held.has(i));
    step(opts.name, stats.steps, 'split', trainItems.length, rest.length, { 'held out as valid': validItems.length });
    trainItems = rest;
  }
  checkAbort(opts.signal);

  // Tokenize.
  let trainRecs: OutputRecord[];
  let validRecs: OutputRecord[];
  if (config.format === 'text' && opts.seq2seq)
    throw new PeftError('E_CONFIG_SEMANTIC', `${opts.name}: format "text" is not supported for t5 (encoder-decoder) models yet`, {
      pointer: `/${opts.name.replace('.', '/')}/format`,
      hint: 'use "completion" (prompt -> encoder, completion -> decoder target), "qa", "instruction" or "chat"',
    });
  if (config.format === 'text') {
    const encoded = par ? await par.tokenize([...trainItems, ...validItems], tok.dir) : undefined;
    const trainStream = encodeTextItems(trainItems, 'train', config, tok, opts, stats, encoded);
    const validStream = encodeTextItems(validItems, 'valid', config, tok, opts, stats, encoded);
    stats.lengths.train = lengthStats(trainStream.lengths, trainStream.ids.length);
    stats.lengths.valid = lengthStats(validStream.lengths, validStream.ids.length);
    trainRecs = streamRecords(trainStream, config, tok);
    validRecs = streamRecords(validStream, config, tok);
  } else {
    const trainEnc = encodeItems(trainItems, 'train', config, tok, opts, stats, sink);
    const validEnc = encodeItems(validItems, 'valid', config, tok, opts, stats, sink);
    stats.lengths.train = lengthStats(
      trainEnc.map((e) => e.tokenized.ids.length),
      trainEnc.reduce((a, e) => a + lossCount(e.tokenized.labels), 0),
    );
    stats.lengths.valid = lengthStats(
      validEnc.map((e) => e.tokenized.ids.length),
      validEnc.reduce((a, e) => a + lossCount(e.tokenized.labels), 0),
    );
    trainRecs = toRecords(trainEnc);
    validRecs = toRecords(validEnc);
  }
  stats.badRecords = { count: sink.count, examples: sink.skipped };
  stats.output = {
    train: trainRecs.length,
    valid: validRecs.length,
    seqLen: stats.output.seqLen,
    trainTokens: trainRecs.reduce((a, r) => a + recordLength(r), 0),
    validTokens: validRecs.reduce((a, r) => a + recordLength(r), 0),
    trainLossTokens: trainRecs.reduce((a, r) => a + recordLossCount(r, IGNORE), 0),
    validLossTokens: validRecs.reduce((a, r) => a + recordLossCount(r, IGNORE), 0),
  };
  return { train: trainRecs, valid: validRecs, stats, bytesIn };
}
