// A T5 model's generation requests for serve, one sequence at a time in arrival order, with BatchDecoder's interface
// (per-token callbacks, a bounded queue refused with E_BUSY, cancellation between tokens, stats for the metrics), over
// step-by-step T5 sessions (encoder once, cached decoder): each sequence's tokens are exactly `T5Model.generate`'s.
import { PeftError } from '../errors.ts';
import { type BatchStats, type DecodeHandlers, type DecodeRequest, nativeOptions } from './batch.ts';
import type { T5AdapterUse, T5Model } from './t5.ts';

export interface T5DecodeRequest extends Omit<DecodeRequest, 'adapters'> {
  adapters?: T5AdapterUse[];
}

interface Pending {
  req: T5DecodeRequest;
  h: DecodeHandlers;
  resolve(finish: 'stop' | 'length' | 'cancelled'): void;
  reject(err: Error): void;
  cleanup(): void;
}

export class T5Decoder {
  private queue: Pending[] = [];
  private running = 0;
  private looping = false;
  private closed = false;
  private steps = 0;
  private readonly maxQueue: number;
  /** Called after every decoded token (and the encoder pass) with the rows it advanced (1) and its seconds. */
  onStep?: (rows: number, seconds: number) => void;

  constructor(
    readonly model: T5Model,
    opts: { maxQueue?: number } = {},
  ) {
    this.maxQueue = opts.maxQueue ?? 256;
  }

  get stats(): BatchStats {
    return { running: this.running, queued: this.queue.length, lastBatch: this.running, steps: this.steps, kvUsedBytes: 0 };
  }

  /** Queues one sequence; resolves with why it ended ('cancelled' when its signal aborted). E_BUSY when the queue is full. */
  generate(req: T5DecodeRequest, h: DecodeHandlers): Promise<'stop' | 'length' | 'cancelled'> {
    if (this.closed) return Promise.reject(new PeftError('E_CANCELLED', 'the decoder is closed'));
    if (req.prompt.length === 0) return Promise.reject(new PeftError('E_USAGE', 'the prompt is empty (at least one token is needed)'));
    if (!Number.isInteger(req.maxTokens) || req.maxTokens < 1) return Promise.reject(new PeftError('E_USAGE', 'maxTokens must be an integer >= 1'));
    if (this.queue.length >= this.maxQueue) return Promise.reject(new PeftError('E_BUSY', `the queue is full (${this.maxQueue} requests waiting)`));
    if (h.signal?.aborted) return Promise.resolve('cancelled');
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        // a queued request leaves at once; a running one stops before its next token
        const i = this.queue.indexOf(p);
        if (i < 0) return;
        this.queue.splice(i, 1);
        p.cleanup();
        resolve('cancelled');
      };
      const p: Pending = { req, h, resolve, reject, cleanup: () => h.signal?.removeEventListener('abort', onAbort) };
      h.signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(p);
      void this.loop();
    });
  }

  private async loop(): Promise<void> {
    if (this.looping) return;
    this.looping = true;
    try {
      while (!this.closed && this.queue.length) {
        const p = this.queue.shift()!;
        this.running = 1;
        try {
          p.resolve(await this.run(p));
        } catch (err) {
          p.reject(err as Error);
        } finally {
          this.running = 0;
          p.cleanup();
        }
      }
    } finally {
      this.looping = false;
    }
  }

  private async run(p: Pending): Promise<'stop' | 'length' | 'cancelled'> {
    const r = p.req;
    let t0 = performance.now();
    const s = await this.model.startSession(r.prompt, nativeOptions(r), r.adapters ?? []);
    this.onStep?.(1, (performance.now() - t0) / 1000);
    for (;;) {
      if (p.h.signal?.aborted || this.closed) return 'cancelled';
      t0 = performance.now();
      const t = await s.next();
      this.steps++;
      this.onStep?.(1, (performance.now() - t0) / 1000);
      if (p.h.signal?.aborted) return 'cancelled';
      p.h.onToken(t); // a consumer that throws ends its own sequence (the loop goes on with the next)
      if (t.finish) return t.finish;
    }
  }

  /** Cancels everything queued; the running sequence stops before its next token. */
  close(): void {
    this.closed = true;
    for (const p of this.queue.splice(0)) {
      p.cleanup();
      p.resolve('cancelled');
    }
  }
}
