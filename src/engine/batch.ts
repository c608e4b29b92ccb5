// Continuous batching over the native BatchDecoder: requests queue, join the running batch at the next step when a
// row and KV cache room are free, get one token per step (the callback runs on the JS thread), and leave when they
// finish, fail or are cancelled (their row and cache are freed at the next step). One step runs at a time.
import { PeftError } from '../errors.ts';
import { call, nativeEngine, type Handle } from './native.ts';
import { refs, type AdapterUse, type EngineModel } from './model.ts';

export interface BatchOptions {
  maxBatch?: number; // sequences decoded together (default 16)
  kvBudgetBytes?: number; // KV cache memory over all running sequences (default 1 GiB)
  maxQueue?: number; // requests waiting for a row at most; one more is refused with E_BUSY (default 256)
  prefillRows?: number; // prompt tokens joining per step at most (default 512; a longer prompt joins alone)
}

export interface DecodeRequest {
  prompt: number[];
  adapters?: AdapterUse[];
  maxTokens: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  eos?: number[];
  topLogprobs?: number;
}

export interface DecodedToken {
  token: number;
  logprob: number;
  top?: { token: number; logprob: number }[];
  finish: 'stop' | 'length' | null;
}

export interface DecodeHandlers {
  onToken(t: DecodedToken): void;
  signal?: AbortSignal;
}

interface NativeEvent {
  id: number;
  token: number;
  logprob: number;
  topIds?: Int32Array;
  topLogprobs?: Float32Array;
  finish: 'stop' | 'length' | null;
}

interface Pending {
  id: number;
  req: DecodeRequest;
  h: DecodeHandlers;
  kvBytes: number;
  resolve(finish: 'stop' | 'length' | 'cancelled'): void;
  reject(err: Error): void;
  cleanup(): void;
}

export interface BatchStats {
  running: number;
  queued: number;
  lastBatch: number;
  steps: number;
  kvUsedBytes: number;
}

export class BatchDecoder {
  private handle: Handle;
  private readonly maxBatch: number;
  private readonly kvBudget: number;
  private readonly kvPerToken: number;
  private readonly maxQueue: number;
  private readonly prefillRows: number;
  private nextId = 1;
  private queue: Pending[] = [];
  private running = new Map<number, Pending>();
  private drops: number[] = [];
  private kvUsed = 0;
  private looping = false;
  private closed = false;
  private lastBatch = 0;
  private steps = 0;
  /** Called after every step with the tokens it produced, its seconds and the prompt rows it prefilled (metrics). */
  onStep?: (rows: number, seconds: number, prefillRows: number) => void;

  constructor(
    readonly model: EngineModel,
    opts: BatchOptions = {},
  ) {
    this.maxBatch = opts.maxBatch ?? 16;
    this.kvBudget = opts.kvBudgetBytes ?? 1024 ** 3;
    this.maxQueue = opts.maxQueue ?? 256;
    this.prefillRows = opts.prefillRows ?? 512;
    this.handle = nativeEngine().decoderCreate(model.handle, { maxBatch: this.maxBatch, kvBudgetBytes: this.kvBudget });
    this.kvPerToken = nativeEngine().decoderInfo(this.handle).kvBytesPerToken;
  }

  get stats(): BatchStats {
    return { running: this.running.size, queued: this.queue.length, lastBatch: this.lastBatch, steps: this.steps, kvUsedBytes: this.kvUsed };
  }

  /** KV bytes one request reserves while it runs. */
  kvBytesFor(req: Pick<DecodeRequest, 'prompt' | 'maxTokens'>): number {
    return (req.prompt.length + req.maxTokens) * this.kvPerToken;
  }

  /**
   * Queues one sequence; resolves with why it ended ('cancelled' when its signal aborted). Throws E_BUSY when the queue
   * is full, E_USAGE when the request alone can never fit the KV budget.
   */
  generate(req: DecodeRequest, h: DecodeHandlers): Promise<'stop' | 'length' | 'cancelled'> {
    if (this.closed) return Promise.reject(new PeftError('E_CANCELLED', 'the decoder is closed'));
    if (req.prompt.length === 0) return Promise.reject(new PeftError('E_USAGE', 'the prompt is empty (at least one token is needed)'));
    if (!Number.isInteger(req.maxTokens) || req.maxTokens < 1) return Promise.reject(new PeftError('E_USAGE', 'maxTokens must be an integer >= 1'));
    const kvBytes = this.kvBytesFor(req);
    if (kvBytes > this.kvBudget)
      return Promise.reject(
        new PeftError('E_USAGE', `this request needs ${kvBytes} bytes of KV cache, more than the whole budget (${this.kvBudget}); ask for fewer tokens`),
      );
    if (this.queue.length >= this.maxQueue) return Promise.reject(new PeftError('E_BUSY', `the queue is full (${this.maxQueue} requests waiting)`));
    if (h.signal?.aborted) return Promise.resolve('cancelled');
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      const onAbort = () => this.cancel(id);
      h.signal?.addEventListener('abort', onAbort, { once: true });
      const p: Pending = { id, req, h, kvBytes, resolve, reject, cleanup: () => h.signal?.removeEventListener('abort', onAbort) };
      this.queue.push(p);
      void this.loop();
    });
  }

  private cancel(id: number): void {
    const qi = this.queue.findIndex((p) => p.id === id);
    if (qi >= 0) {
      const [p] = this.queue.splice(qi, 1);
      p.cleanup();
      p.resolve('cancelled');
      return;
    }
    const p = this.running.get(id);
    if (!p) return;
    this.finish(p);
    this.drops.push(id);
    p.resolve('cancelled');
    void this.loop();
  }

  private finish(p: Pending): void {
    this.running.delete(p.id);
    this.kvUsed -= p.kvBytes;
    p.cleanup();
  }

  private async loop(): Promise<void> {
    if (this.looping) return;
    this.looping = true;
    try {
      while (!this.closed && (this.running.size > 0 || this.queue.length > 0 || this.drops.length > 0)) {
        const adds: Pending[] = [];
        while (this.queue.length && this.running.size + adds.length < this.maxBatch && this.kvUsed + this.queue[0].kvBytes <= this.kvBudget) {
          const p = this.queue.shift()!;
          this.kvUsed += p.kvBytes;
          adds.push(p);
        }
        for (const p of adds) this.running.set(p.id, p);
        const drops = this.drops.splice(0);
        if (this.running.size === 0) {
          if (drops.length) await call(() => nativeEngine().decoderStep(this.handle, [], drops));
          continue;
        }
        const t0 = performance.now();
        let out: { events: NativeEvent[]; rejected: { id: number; code: string; message: string }[]; prefillRows: number };
        try {
          out = await call(() =>
            nativeEngine().decoderStep(
              this.handle,
              adds.map((p) => ({ id: p.id, prompt: Int32Array.from(p.req.prompt), adapters: refs(p.req.adapters ?? []), ...nativeOptions(p.req) })),
              drops,
              { prefillRows: this.prefillRows },
            ),
          );
        } catch (err) {
          // a failed step fails the sequences in it; the decoder starts over so no half-advanced state remains
          for (const p of [...this.running.values()]) {
            this.finish(p);
            p.reject(err as Error);
          }
          this.handle = nativeEngine().decoderCreate(this.model.handle, { maxBatch: this.maxBatch, kvBudgetBytes: this.kvBudget });
          continue;
        }
        this.steps++;
        this.lastBatch = out.events.length;
        this.onStep?.(out.events.length, (performance.now() - t0) / 1000, out.prefillRows);
        for (const r of out.rejected) {
          const p = this.running.get(r.id);
          if (!p) continue;
          this.finish(p);
          p.reject(new PeftError(r.code, r.message));
        }
        for (const e of out.events) {
          const p = this.running.get(e.id);
          if (!p) continue; // cancelled while the step ran: dropped at the next step (or already finished there)
          const top = e.topIds ? Array.from(e.topIds, (token, i) => ({ token, logprob: e.topLogprobs![i] })) : undefined;
          if (e.finish) this.finish(p);
          try {
            p.h.onToken({ token: e.token, logprob: e.logprob, top, finish: e.finish });
          } catch (err) {
            // a consumer that throws ends its own sequence only
            if (!e.finish) {
              this.finish(p);
              this.drops.push(p.id);
            }
            p.reject(err as Error);
            continue;
          }
          if (e.finish) p.resolve(e.finish);
        }
      }
    } finally {
      this.looping = false;
    }
  }

  /** Cancels everything queued or running. */
  close(): void {
    this.closed = true;
    for (const p of this.queue.splice(0)) {
      p.cleanup();
      p.resolve('cancelled');
    }
    for (const p of [...this.running.values()]) {
      this.finish(p);
      p.resolve('cancelled');
    }
  }
}

/** A request's decoding options as the native session calls take them (batched and T5 decoding alike). */
export function nativeOptions(r: Omit<DecodeRequest, 'adapters'>) {
  return {
    maxTokens: r.maxTokens,
    temperature: r.temperature ?? 0,
    topK: r.topK ?? 0,
    topP: r.topP ?? 1,
    seed: r.seed ?? 0,
    eos: r.eos,
    topLogprobs: r.topLogprobs ?? 0,
  };
}
