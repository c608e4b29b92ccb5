// The streamed path of a `text` dataset read from text files (exact or no dedup): the source read in chunks that the
// dataset workers and this thread (in-order.ts) turn into cleaned, hashed, tokenized documents (stream-docs.ts); this
// thread dedups them by 128-bit digest and spools the kept ids in order (token-spool.ts); once every rank is known,
// `limit` and the split pick the same documents as the in-memory path (the n smallest seeded ranks), and a second
// pass over the spool packs each part and has the workers (and this thread) format its JSONL (stream-format.ts),
// written in order. Memory: a few chunks per worker, the spool's buffer and ~60 bytes per kept document.
// Byte-identical to prepareDataset + writeDataset.
import { closeSync, openSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join, relative } from 'node:path';
import { PeftError } from '../../src/errors.ts';
import { expandInputs } from '../../src/hash/expand.ts';
import { IdBuffer } from '../../src/hf/id-buffer.ts';
import { effectiveMaxTokens } from './config.ts';
import { DigestSet } from './digest-set.ts';
import { PackedRecord } from './packed-record.ts';
import { InOrder } from './in-order.ts';
import { type PoolWorker, poolWorkers, workerCount } from './parallel.ts';
import { checkAbort, newDatasetStats, type PrepareOptions, step, TokenRemovals, vocabError } from './prepare.ts';
import { BadRecord, type Origin } from './records.ts';
import { renderSamples } from './samples.ts';
import { PII_TYPES, type DatasetConfig, type DatasetSource } from './schema.ts';
import { fileFormatOf } from './sources/index.ts';
import { lengthStats, renderStats, type DatasetStats } from './stats.ts';
import { textChunks } from './stream-chunks.ts';
import { type ChunkJob, type ChunkResult, processChunk } from './stream-docs.ts';
import { type FormatJob, formatSequences } from './stream-format.ts';
import { TokenSpool } from './token-spool.ts';

/** Ids per JSONL formatting job (a multiple of seqLen): ~800 KB of JSONL, which stays in the CPU cache on its way to the file (4x that took 25% longer). */
const FORMAT_IDS = 1 << 16;
/** Written JSONL buffers kept for the next jobs to format into. */
const SPARES = 8;

interface SourceFile {
  abs: string;
  shown: string;
  bytes: number;
}

/** The files of a source the streamed path can read (text files only), or undefined. */
async function textFiles(src: DatasetSource | null, opts: PrepareOptions): Promise<SourceFile[] | undefined> {
  if (!src?.files || src.hub || src.examples) return undefined;
  let abs: string[];
  try {
    abs = await expandInputs(opts.name, opts.projectDir, src.files);
  } catch {
    return undefined; // the in-memory path reports it
  }
  const out: SourceFile[] = [];
  for (const a of abs) {
    const shown = relative(opts.projectDir, a) || a;
    let fmt: string;
    try {
      fmt = fileFormatOf(shown, src.fileFormat);
    } catch {
      return undefined;
    }
    if (fmt !== 'txt' && fmt !== 'md') return undefined;
    out.push({ abs: a, shown, bytes: statSync(a).size });
  }
  return out;
}

/** The sources of a dataset the streamed path takes (`text`, exact or no dedup, text files), or undefined. */
export async function streamedSources(config: DatasetConfig, opts: PrepareOptions): Promise<{ train: SourceFile[]; valid?: SourceFile[] } | undefined> {
  if (config.format !== 'text' || config.clean.dedup === 'near' || opts.seq2seq || Object.keys(config.fields).length > 0) return undefined;
  const train = await textFiles(config.source, opts);
  if (!train) return undefined;
  if (!config.split.source) return { train };
  const valid = await textFiles(config.split.source, opts);
  return valid ? { train, valid } : undefined;
}

class F64List {
  data = new Float64Array(1 << 12);
  length = 0;
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
}

/** Marks with `mark` the `n` candidates (indices in order) of smallest rank, ties to the earlier (pickByRank's order). */
function markSmallest(ranks: Float64Array, candidates: Int32Array, n: number, sel: Uint8Array, mark: number): void {
  if (n <= 0) return;
  const vals = Float64Array.from(candidates, (i) => ranks[i]);
  const sorted = vals.slice().sort();
  const t = sorted[n - 1];
  let ties = n;
  for (const v of vals) if (v < t) ties--;
  candidates.forEach((i, k) => {
    if (vals[k] < t || (vals[k] === t && ties-- > 0)) sel[i] = mark;
  });
}

/** Kept documents of both sources, in spool order. */
class Kept {
  readonly lens = new IdBuffer();
  readonly part = new IdBuffer(); // 1 train source, 2 valid source
  readonly rankValid = new F64List();
  readonly rankSample = new F64List();
  readonly bad: { k: number; id: number; origin: Origin }[] = [];
}

interface Counts {
  docs: number;
  empty: number;
  pii: number;
  short: number;
  long: number;
  exact: number;
}

/** Phase 1 of one source: its chunks through the workers (or this thread), deduped and spooled in order. */
async function streamSource(
  files: SourceFile[],
  src: DatasetSource,
  partCode: 1 | 2,
  config: DatasetConfig,
  opts: PrepareOptions,
  stats: DatasetStats,
  workers: PoolWorker[] | undefined,
  spool: TokenSpool,
  kept: Kept,
): Promise<Counts> {
  const c = config.clean;
  const counts: Counts = { docs: 0, empty: 0, pii: 0, short: 0, long: 0, exact: 0 };
  const seen = c.dedup === 'exact' ? new DigestSet() : undefined;
  const fileStats = files.map((f) => ({ file: f.shown, records: 0, bytes: f.bytes }));
  stats.sources.push({ split: partCode === 1 ? 'train' : 'valid', files: fileStats, bytes: files.reduce((a, f) => a + f.bytes, 0) });
  const template: Omit<ChunkJob, 'file' | 'bytes' | 'first'> = {
    op: 'chunk',
    mode: src.documents ?? 'file',
    clean: c,
    types: c.piiTypes.length ? c.piiTypes : PII_TYPES,
    validSeed: partCode === 1 && !config.split.source && config.split.valid > 0 ? (config.split.seed ?? config.seed) : null,
    sampleSeed: partCode === 1 && config.limit !== null && config.sample === 'random' ? config.seed : null,
    tokenizerDir: opts.tokenizer.dir,
    vocabSize: opts.vocab?.size ?? 0,
  };
  const lineBase = files.map(() => 0);
  const consume = (fi: number, r: ChunkResult): void => {
    const file = files[fi].shown;
    if (r.notUtf8 !== undefined) throw new BadRecord({ file, line: lineBase[fi] + r.notUtf8 }, 'not valid UTF-8', 're-encode the file as UTF-8');
    fileStats[fi].records += r.docs;
    counts.docs += r.docs;
    counts.empty += r.empty;
    counts.pii += r.pii;
    counts.short += r.short;
    counts.long += r.long;
    for (const [type, n] of Object.entries(r.tally.byType)) stats.pii.byType[type] = (stats.pii.byType[type] ?? 0) + n;
    stats.pii.records += r.tally.records;
    for (let j = 0; j < r.ends.length; j++) {
      if (seen && !seen.add(r.digest, 4 * j)) {
        counts.exact++;
        continue;
      }
      const a = j ? r.ends[j - 1] : 0;
      const b = r.ends[j];
      if (r.bad[j] >= 0) kept.bad.push({ k: kept.lens.length, id: r.bad[j], origin: { file, line: lineBase[fi] + r.line[j] } });
      spool.append(r.ids.subarray(a, b));
      kept.lens.push(b - a);
      kept.part.push(partCode);
      kept.rankValid.push(r.rankValid[j]);
      kept.rankSample.push(r.rankSample[j]);
    }
    lineBase[fi] += r.lines;
    opts.progress?.(`preparing ${partCode === 1 ? 'train' : 'valid'}`, counts.docs);
  };
  const queue = new InOrder<ChunkResult & { fi: number }>(workers ?? []);
  let inline = 0;
  for (let fi = 0; fi < files.length; fi++) {
    opts.progress?.(`reading ${files[fi].shown}`);
    let first = true;
    for (const bytes of textChunks(files[fi].abs, template.mode, opts.chunkBytes)) {
      checkAbort(opts.signal);
      const job: ChunkJob = { ...template, file: files[fi].shown, bytes, first };
      first = false;
      if (!workers) {
        consume(fi, processChunk(job, opts.tokenizer));
        if (++inline % 8 === 0) await new Promise(setImmediate); // timers, signals and progress get their turn
        continue;
      }
      const shown = files[fi].shown;
      const chunkFi = fi;
      await queue.add(
        (w) =>
          w.request<ChunkResult>(job, [bytes.buffer as ArrayBuffer]).then(
            (r) => Object.assign(r, { fi: chunkFi }),
            (e: unknown) => {
              throw workerFailure(e, shown);
            },
          ),
        () => Object.assign(processChunk(job, opts.tokenizer), { fi: chunkFi }),
        (r) => consume(r.fi, r),
      );
    }
  }
  await queue.finish((r) => consume(r.fi, r));
  return counts;
}

/** A worker's failure on a chunk of `file`: its own PeftError as it is, anything else named after the file. */
function workerFailure(e: unknown, file: string): PeftError {
  if (e instanceof PeftError && e.code !== 'E_INTERNAL') return e;
  return new PeftError('E_INTERNAL', `${file}: ${(e as Error).message}`, { file });
}

/** The steps of one source's first pass, as the in-memory path records them. */
function sourceSteps(part: 'train' | 'valid', counts: Counts, config: DatasetConfig, opts: PrepareOptions, stats: DatasetStats, src: DatasetSource): number {
  const c = config.clean;
  if (counts.docs === 0) {
    const what = `files ${src.files!.join(', ')}`;
    throw new PeftError('E_DATA', `${opts.name}: the ${part} source (${what}) has no records`, { hint: 'check that the files are not empty' });
  }
  step(opts.name, stats.steps, `read/${part}`, counts.docs, counts.docs, { 'bad record': 0 });
  const afterPii = counts.docs - counts.empty - counts.pii;
  step(opts.name, stats.steps, `clean+pii/${part}`, counts.docs, afterPii, { 'empty after cleaning': counts.empty, 'pii (drop)': counts.pii });
  const sized = afterPii - counts.short - counts.long;
  step(opts.name, stats.steps, `length/${part}`, afterPii, sized, { [`minChars ${c.minChars}`]: counts.short, [`maxChars ${c.maxChars}`]: counts.long });
  step(opts.name, stats.steps, `dedup/${part}`, sized, sized - counts.exact, { 'exact duplicate': counts.exact, 'near duplicate': 0 });
  return sized - counts.exact;
}

/** Sequences packed from `total` ids: the full ones and a last one of 2+ ids. */
function packedCounts(total: number, seqLen: number): { records: number; tokens: number } {
  const full = Math.floor(total / seqLen);
  const tail = total - full * seqLen;
  return { records: full + (tail >= 2 ? 1 : 0), tokens: full * seqLen + (tail >= 2 ? tail : 0) };
}

/** One part's packing and writing in the second pass: ids gathered into FORMAT_IDS-id runs of whole sequences. */
class PartWriter {
  private buf: Int32Array;
  private len = 0;
  readonly samples: Int32Array[] = []; // the first sequences' ids (samples.txt)

  constructor(
    readonly fd: number,
    private readonly seqLen: number,
    private readonly run: number,
    private readonly emit: (w: PartWriter, ids: Int32Array) => Promise<void>,
    private readonly keepSamples: number,
  ) {
    this.buf = new Int32Array(run + seqLen);
  }

  async append(ids: Int32Array): Promise<void> {
    for (let at = 0; at < ids.length; ) {
      const take = Math.min(ids.length - at, this.buf.length - this.len);
      this.buf.set(ids.subarray(at, at + take), this.len);
      this.len += take;
      at += take;
      if (this.len >= this.run) {
        const out = this.buf.slice(0, this.run);
        this.buf.copyWithin(0, this.run, this.len);
        this.len -= this.run;
        await this.send(out);
      }
    }
  }

  async finish(): Promise<void> {
    const tail = this.len % this.seqLen;
    const n = tail === 1 ? this.len - 1 : this.len; // a 1-token tail is dropped
    if (n > 0) await this.send(this.buf.slice(0, n));
    this.len = 0;
  }

  private send(ids: Int32Array): Promise<void> {
    for (let a = 0; this.samples.length < this.keepSamples && a < ids.length; a += this.seqLen) this.samples.push(ids.slice(a, a + this.seqLen));
    return this.emit(this, ids);
  }
}

/** Prepares and writes a dataset the streamed path takes (see streamedSources); returns its stats and input bytes. */
export async function prepareStreamed(
  config: DatasetConfig,
  opts: PrepareOptions,
  sources: { train: SourceFile[]; valid?: SourceFile[] },
  outDir: string,
  writeSamples: boolean,
): Promise<{ stats: DatasetStats; bytesIn: number }> {
  const tok = opts.tokenizer;
  const stats = newDatasetStats(config, opts);
  const trainBytes = sources.train.reduce((a, f) => a + f.bytes, 0);
  const bytesIn = trainBytes + (sources.valid ?? []).reduce((a, f) => a + f.bytes, 0);
  const count = workerCount(trainBytes, opts.workers);
  const workers = count > 1 ? poolWorkers(count - 1) : undefined; // this thread is the count-th: it takes the jobs no worker has room for
  const spool = new TokenSpool(join(outDir, '.token-spool.tmp'));
  const kept = new Kept();
  try {
    opts.progress?.('reading source');
    const trainCounts = await streamSource(sources.train, config.source, 1, config, opts, stats, workers, spool, kept);
    const K = sourceSteps('train', trainCounts, config, opts, stats, config.source);
    checkAbort(opts.signal);

    // Limit, then the split (or the valid source): the in-memory path's selection, from the ranks alone.
    const sel = new Uint8Array(K);
    const all = Int32Array.from({ length: K }, (_, i) => i);
    if (config.limit === null || K <= config.limit) sel.fill(1);
    else if (config.sample === 'first') sel.fill(1, 0, config.limit);
    else markSmallest(kept.rankSample.data, all, config.limit, sel, 1);
    const limited = Int32Array.from(all.filter((i) => sel[i] === 1));
    step(opts.name, stats.steps, 'limit', K, limited.length, { [`limit ${config.limit} (${config.sample})`]: K - limited.length });
    let selAll = sel;
    if (config.split.source && sources.valid) {
      const validCounts = await streamSource(sources.valid, config.split.source, 2, config, opts, stats, workers, spool, kept);
      sourceSteps('valid', validCounts, config, opts, stats, config.split.source);
      selAll = new Uint8Array(kept.lens.length);
      selAll.set(sel);
      selAll.fill(2, K);
    } else {
      const L = limited.length;
      const frac = config.split.valid;
      const n = frac <= 0 || L < 2 ? 0 : Math.min(L - 1, Math.max(1, Math.round(frac * L)));
      markSmallest(kept.rankValid.data, limited, n, sel, 2);
      step(opts.name, stats.steps, 'split', L, L - n, { 'held out as valid': n });
    }
    checkAbort(opts.signal);

    // Ids past the model's vocabulary: the first train record's, else the first valid one's (the in-memory order).
    const badOf = (part: number) => kept.bad.find((b) => selAll[b.k] === part);
    const bad = badOf(1) ?? badOf(2);
    if (bad) throw vocabError(bad.id, bad.origin, tok, opts);

    // maxTokens, lengths and output counts per part (all known before a byte is written).
    const maxTokens = effectiveMaxTokens(config);
    const cap = new Int32Array(kept.lens.length).fill(-1);
    for (const [part, name] of [
      [1, 'train'],
      [2, 'valid'],
    ] as const) {
      const removed = new TokenRemovals(maxTokens, stats);
      const lengths = new IdBuffer();
      let items = 0;
      let total = 0;
      for (let k = 0; k < kept.lens.length; k++) {
        if (selAll[k] !== part) continue;
        items++;
        let n = kept.lens.data[k];
        if (maxTokens !== null && n > maxTokens) {
          if (config.overLength === 'drop') {
            removed.overLength();
            continue;
          }
          if (maxTokens === 0) {
            removed.noLossLeft();
            continue;
          }
          stats.maxTokens.truncated++;
          n = maxTokens;
        }
        cap[k] = n;
        lengths.push(n);
        total += n;
      }
      if (part === 1 || items) step(opts.name, stats.steps, `tokens/${name}`, items, lengths.length, removed.counts);
      stats.lengths[name] = lengthStats(lengths.view(), total);
    }
    const tr = packedCounts(stats.lengths.train.lossTokens, config.seqLen);
    const va = packedCounts(stats.lengths.valid.lossTokens, config.seqLen);
    stats.output = {
      train: tr.records,
      valid: va.records,
      seqLen: config.seqLen,
      trainTokens: tr.tokens,
      validTokens: va.tokens,
      trainLossTokens: tr.tokens,
      validLossTokens: va.tokens,
    };

    // Second pass: the spool in order, each kept document's ids (capped) to its part, packed and formatted.
    await writeParts(config, opts, outDir, spool, kept, cap, selAll, workers, writeSamples ? 3 : 0, (train, valid) => {
      if (writeSamples) writeFileSync(join(outDir, 'samples.txt'), renderSamples(train, valid, tok));
    });
    writeFileSync(join(outDir, 'stats.json'), JSON.stringify(stats, null, 2) + '\n');
    writeFileSync(join(outDir, 'stats.txt'), renderStats(stats));
    return { stats, bytesIn };
  } finally {
    spool.close();
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
}

async function writeParts(
  config: DatasetConfig,
  opts: PrepareOptions,
  outDir: string,
  spool: TokenSpool,
  kept: Kept,
  cap: Int32Array,
  sel: Uint8Array,
  workers: PoolWorker[] | undefined,
  samples: number,
  done: (train: PackedRecord[], valid: PackedRecord[]) => void,
): Promise<void> {
  const tok = opts.tokenizer;
  const seqLen = config.seqLen;
  const run = Math.max(1, Math.floor(FORMAT_IDS / seqLen)) * seqLen;
  const queue = new InOrder<{ fd: number; bytes: Uint8Array }>(workers ?? []);
  const spares: ArrayBuffer[] = []; // written JSONL buffers, formatted into again (here, or sent with a job)
  const write = (r: { fd: number; bytes: Uint8Array }): void => {
    writeAll(r.fd, r.bytes);
    if (spares.length < SPARES && r.bytes.byteLength >= 1 << 16 && r.bytes.buffer instanceof ArrayBuffer) spares.push(r.bytes.buffer);
  };
  const emit = async (w: PartWriter, ids: Int32Array): Promise<void> => {
    if (!workers) return write({ fd: w.fd, bytes: formatSequences(ids, seqLen, tok, spares.pop()) });
    const fd = w.fd;
    await queue.add(
      (worker) => {
        const spare = spares.pop();
        const job: FormatJob = { op: 'format', ids, seqLen, tokenizerDir: tok.dir, spare };
        return worker.request<{ bytes: Uint8Array }>(job, spare ? [ids.buffer as ArrayBuffer, spare] : [ids.buffer as ArrayBuffer]).then(
          (r) => ({ fd, bytes: r.bytes }),
          (e: unknown) => {
            throw workerFailure(e, join(outDir, fd === fds[0] ? 'train.jsonl' : 'valid.jsonl'));
          },
        );
      },
      () => ({ fd, bytes: formatSequences(ids, seqLen, tok, spares.pop()) }),
      write,
    );
  };
  const fds: number[] = [];
  try {
    fds.push(openSync(join(outDir, 'train.jsonl'), 'w'));
    fds.push(openSync(join(outDir, 'valid.jsonl'), 'w'));
    const parts = [undefined, new PartWriter(fds[0], seqLen, run, emit, samples), new PartWriter(fds[1], seqLen, run, emit, samples)];
    const lens = kept.lens.data;
    let k = -1; // the document being read
    let left = 0; // its ids still to read
    let keep = 0; // its ids still to keep
    for (const block of spool.blocks()) {
      checkAbort(opts.signal);
      for (let at = 0; at < block.length; ) {
        while (left === 0) {
          k++;
          left = lens[k];
          keep = sel[k] !== 0 && cap[k] >= 0 ? cap[k] : 0;
        }
        const take = Math.min(left, block.length - at);
        const use = Math.min(take, keep);
        if (use > 0) await parts[sel[k]]!.append(block.subarray(at, at + use));
        keep -= use;
        left -= take;
        at += take;
      }
    }
    await parts[1]!.finish();
    await parts[2]!.finish();
    await queue.finish(write);
    done(
      parts[1]!.samples.map((ids) => new PackedRecord(ids, tok)),
      parts[2]!.samples.map((ids) => new PackedRecord(ids, tok)),
    );
  } finally {
    for (const fd of fds) closeSync(fd);
  }
}
