// Dataset preparation on every core: a pool of worker threads (prepare-worker.ts), started on first use and kept
// for the rest of the process (a build starts them once, every dataset stage reuses them). The main thread splits a
// `text` dataset's items into chunks the workers clean (cleanItem, the same function as the serial path); the
// filters, dedup, limit and split stay on the main thread, in source order; then each worker tokenizes the kept
// items it cleaned and the main thread joins the ids in dataset order: the output is byte-identical to the serial one.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { PeftError } from '../../src/errors.ts';
import type { IdBuffer } from '../../src/hf/index.ts';
import type { PiiTally } from './clean-item.ts';
import type { Item } from './fields.ts';
import type { CleanOutcome } from './prepare.ts';
import type { DatasetConfig, PiiType } from './schema.ts';
import type { ChunkJob } from './stream-docs.ts';
import type { FormatJob } from './stream-format.ts';

export interface CleanRequest {
  op: 'clean';
  base: number; // index of the first item, unique within one preparation
  items: Item[];
  clean: DatasetConfig['clean'];
  types: readonly PiiType[];
}
export interface CleanReply {
  op: 'clean';
  status: Int8Array; // 0 kept, 1 empty after cleaning, 2 PII (drop)
  lens: Int32Array;
  keys: string[];
  pii: PiiTally;
}
export interface TokenizeRequest {
  op: 'tokenize';
  refs: number[];
  tokenizerDir: string;
}
export interface TokenizeReply {
  op: 'tokenize';
  ids: Int32Array;
  ends: Int32Array; // end of each ref's ids in `ids`
}
export type WorkerRequest = CleanRequest | TokenizeRequest | ChunkJob | FormatJob | { op: 'reset' };

/** Source bytes from which the workers pay for themselves (starting one costs a few hundred ms). */
export const PARALLEL_MIN_BYTES = 8e6;
/** Characters of text per clean request. */
const CHUNK_CHARS = 1 << 20;

/** What a worker posts when a request failed: a PeftError's code, message and details travel as they are. */
export interface WorkerError {
  op: 'error';
  message: string;
  code?: string;
  details?: Record<string, unknown>;
}

/** One worker; replies come back in request order. Unreferenced while idle, so it never keeps the process alive. */
export class PoolWorker {
  private readonly worker: Worker;
  private readonly pending: { resolve: (v: unknown) => void; reject: (e: Error) => void }[] = [];
  dead = false;

  constructor() {
    this.worker = new Worker(new URL('./prepare-worker.mjs', import.meta.url));
    this.worker.unref();
    this.worker.on('message', (m: { op: string } | WorkerError) => {
      const p = this.pending.shift();
      if (this.pending.length === 0) this.worker.unref();
      if (m.op === 'error') {
        const e = m as WorkerError;
        p?.reject(e.code ? new PeftError(e.code, e.message, e.details) : new PeftError('E_INTERNAL', `dataset worker failed: ${e.message}`));
      } else p?.resolve(m);
    });
    const fail = (e: Error): void => {
      this.dead = true;
      for (const p of this.pending.splice(0)) p.reject(new PeftError('E_INTERNAL', `dataset worker stopped: ${e.message}`));
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
  }

  /** Sends `req` (moving the `transfer` buffers to the worker); the reply, or the error the worker reported. */
  request<T>(req: WorkerRequest, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.dead) return Promise.reject(new PeftError('E_INTERNAL', 'dataset worker stopped'));
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ resolve: resolve as (v: unknown) => void, reject });
      this.worker.ref();
      this.worker.postMessage(req, transfer);
    });
  }

  /** Requests in flight. */
  get busy(): number {
    return this.pending.length;
  }
}

const pool: PoolWorker[] = [];

/** The process's first `count` dataset workers (started on first use, restarted if one died). */
export function poolWorkers(count: number): PoolWorker[] {
  for (let i = 0; i < count; i++) if (!pool[i] || pool[i].dead) pool[i] = new PoolWorker();
  return pool.slice(0, count);
}

/** How many workers a preparation of `bytes` of source gets: `requested`, else one per core from PARALLEL_MIN_BYTES (1: none). */
export function workerCount(bytes: number, requested?: number): number {
  if (requested !== undefined) return Math.max(1, Math.floor(requested));
  return bytes >= PARALLEL_MIN_BYTES ? Math.min(availableParallelism(), 8) : 1;
}

/** One preparation's use of the pool: which worker holds which item. */
export class ParallelPrep {
  private readonly workers: PoolWorker[];
  private readonly owner: number[] = []; // item index -> worker
  private nextBase = 0;

  constructor(count: number) {
    this.workers = poolWorkers(count);
  }

  /** Cleans `items` on the workers; the outcomes in item order, PII counts added to `pii` as the serial path would. */
  async clean(items: Item[], c: DatasetConfig['clean'], types: readonly PiiType[], pii: PiiTally, signal?: AbortSignal): Promise<CleanOutcome[]> {
    const base = this.nextBase;
    this.nextBase += items.length;
    const chunks: [number, number][] = [];
    for (let a = 0; a < items.length; ) {
      let b = a;
      let chars = 0;
      while (b < items.length && chars < CHUNK_CHARS)
        chars += items[b++].example.format === 'text' ? (items[b - 1].example as { text: string }).text.length : 1;
      chunks.push([a, b]);
      a = b;
    }
    const replies = new Array<CleanReply>(chunks.length);
    let next = 0;
    await Promise.all(
      this.workers.map(async (w, wi) => {
        while (next < chunks.length) {
          if (signal?.aborted) throw new PeftError('E_CANCELLED', 'dataset preparation cancelled');
          const k = next++;
          const [a, b] = chunks[k];
          for (let i = a; i < b; i++) this.owner[base + i] = wi;
          replies[k] = await w.request<CleanReply>({ op: 'clean', base: base + a, items: items.slice(a, b), clean: c, types });
        }
      }),
    );
    const out: CleanOutcome[] = [];
    chunks.forEach(([a], k) => {
      const r = replies[k];
      for (const [type, n] of Object.entries(r.pii.byType)) pii.byType[type] = (pii.byType[type] ?? 0) + n;
      pii.records += r.pii.records;
      r.status.forEach((s, i) => out.push(s === 1 ? 'empty' : s === 2 ? 'pii' : { item: items[a + i], len: r.lens[i], key: r.keys[i], ref: base + a + i }));
    });
    return out;
  }

  /** Tokenizes the given cleaned items on the workers that hold them; returns what encodeTextItems appends per item. */
  async tokenize(docs: readonly { ref?: number }[], tokenizerDir: string): Promise<(doc: { ref?: number }, out: IdBuffer) => number> {
    const refsOf = this.workers.map(() => [] as number[]);
    for (const d of docs) refsOf[this.owner[d.ref!]].push(d.ref!);
    const replies = await Promise.all(this.workers.map((w, wi) => w.request<TokenizeReply>({ op: 'tokenize', refs: refsOf[wi], tokenizerDir })));
    const where = new Map<number, [Int32Array, number, number]>();
    replies.forEach((r, wi) => refsOf[wi].forEach((ref, k) => where.set(ref, [r.ids, k ? r.ends[k - 1] : 0, r.ends[k]])));
    return (doc, out) => {
      const [ids, a, b] = where.get(doc.ref!)!;
      out.pushIds(ids.subarray(a, b));
      return b - a;
    };
  }

  /** Drops the cleaned texts the workers keep (the workers stay for the next preparation). */
  async reset(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.request({ op: 'reset' }).catch(() => undefined)));
  }
}
