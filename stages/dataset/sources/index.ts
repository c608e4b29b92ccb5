// Reads one dataset source (local files by glob, hub split files from the HF cache, or inline examples) into records.
import { readFile, stat } from 'node:fs/promises';
import { extname, relative } from 'node:path';
import { expandInputs } from '../../../src/hash/expand.ts';
import { PeftError } from '../../../src/errors.ts';
import { BadRecord, type BadRecordSink, type RawRecord } from '../records.ts';
import type { DatasetSource, FileFormat } from '../schema.ts';
import { readCsv } from './csv.ts';
import { fetchHubSource } from './hub.ts';
import { readJson, readJsonl } from './json-files.ts';
import { readParquet } from './parquet.ts';
import { readTextDocuments } from './text-files.ts';

export interface SourceContext {
  stage: string;
  projectDir: string;
  sink: BadRecordSink;
  /** Pointer of this source in pipeline.json, for inline examples (e.g. /datasets/qa/source). */
  pointer: string;
  signal?: AbortSignal;
  onProgress?: (message: string) => void;
}

export interface SourceRead {
  records: RawRecord[];
  files: { file: string; records: number; bytes: number }[];
  bytes: number;
  hub?: { id: string; sha: string; fromCache: boolean; files: string[] };
}

const EXT_FORMAT: Record<string, Exclude<FileFormat, 'auto'>> = {
  '.txt': 'txt',
  '.text': 'txt',
  '.raw': 'txt',
  '.md': 'md',
  '.markdown': 'md',
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
  '.json': 'json',
  '.csv': 'csv',
  '.parquet': 'parquet',
};

export function fileFormatOf(path: string, declared: FileFormat = 'auto'): Exclude<FileFormat, 'auto'> {
  if (declared !== 'auto') return declared;
  const fmt = EXT_FORMAT[extname(path).toLowerCase()];
  if (!fmt)
    throw new PeftError('E_DATA', `${path}: cannot tell the file format from the extension "${extname(path)}"`, {
      file: path,
      hint: 'use .txt .md .jsonl .json .csv or .parquet, or set source.fileFormat',
    });
  return fmt;
}

/** The bytes of a non-parquet file, read ahead (one file at a time) so the next file's read overlaps parsing this one. */
type Prefetch = Promise<Buffer> | undefined;

function prefetch(abs: string, shown: string, src: DatasetSource, format?: FileFormat): Prefetch {
  let fmt: FileFormat;
  try {
    fmt = fileFormatOf(shown, format ?? src.fileFormat);
  } catch {
    return undefined; // readOne reports it, in file order
  }
  if (fmt === 'parquet') return undefined;
  const read = readFile(abs);
  read.catch(() => {}); // observed by readOne; no unhandled rejection when an earlier file fails first
  return read;
}

async function readOne(
  abs: string,
  shown: string,
  src: DatasetSource,
  sink: BadRecordSink,
  format?: FileFormat,
  ahead?: Prefetch,
): Promise<{ records: RawRecord[]; bytes: number }> {
  const fmt = fileFormatOf(shown, format ?? src.fileFormat);
  if (fmt === 'parquet') {
    const { size } = await stat(abs);
    return { records: await readParquet(abs, shown), bytes: size };
  }
  const buf = await (ahead ?? readFile(abs));
  const text = buf.toString('utf8');
  if (text.includes('\uFFFD') && !buf.includes(Buffer.from('\uFFFD', 'utf8')))
    throw new BadRecord(
      { file: shown, line: 1 + (text.slice(0, text.indexOf('\uFFFD')).match(/\n/g)?.length ?? 0) },
      'not valid UTF-8',
      're-encode the file as UTF-8',
    );
  let records: RawRecord[];
  if (fmt === 'txt' || fmt === 'md') records = readTextDocuments(text, shown, src.documents ?? 'file');
  else if (fmt === 'jsonl') records = readJsonl(text, shown, sink);
  else if (fmt === 'json') {
    try {
      records = readJson(text, shown, sink);
    } catch (err) {
      if (!(err instanceof BadRecord)) throw err;
      sink.report(err);
      records = [];
    }
  } else records = readCsv(text, shown, sink);
  return { records, bytes: buf.length };
}

export async function readSource(src: DatasetSource, ctx: SourceContext): Promise<SourceRead> {
  const out: SourceRead = { records: [], files: [], bytes: 0 };
  if (src.examples) {
    src.examples.forEach((ex, k) => out.records.push({ fields: ex, origin: { file: 'pipeline.json', pointer: `${ctx.pointer}/examples/${k}` } }));
    out.bytes = Buffer.byteLength(JSON.stringify(src.examples));
    return out;
  }
  let files: { abs: string; shown: string; format?: FileFormat }[];
  if (src.hub) {
    const res = await fetchHubSource(src, { signal: ctx.signal, onProgress: ctx.onProgress });
    files = res.files.map((f) => ({ abs: f.localPath, shown: `hf://datasets/${src.hub}@${res.sha.slice(0, 12)}/${f.path}`, format: res.format }));
    out.hub = { id: src.hub, sha: res.sha, fromCache: res.fromCache, files: res.files.map((f) => f.path) };
  } else {
    const abs = await expandInputs(ctx.stage, ctx.projectDir, src.files ?? []);
    files = abs.map((a) => ({ abs: a, shown: relative(ctx.projectDir, a) || a }));
  }
  let next: Prefetch = files.length ? prefetch(files[0].abs, files[0].shown, src, files[0].format) : undefined;
  for (let k = 0; k < files.length; k++) {
    const f = files[k];
    const ahead = next;
    next = k + 1 < files.length ? prefetch(files[k + 1].abs, files[k + 1].shown, src, files[k + 1].format) : undefined;
    ctx.onProgress?.(`reading ${f.shown}`);
    const { records, bytes } = await readOne(f.abs, f.shown, src, ctx.sink, f.format, ahead);
    out.files.push({ file: f.shown, records: records.length, bytes });
    out.bytes += bytes;
    for (const r of records) out.records.push(r);
  }
  return out;
}
