// Jobs of the streamed path shared between the dataset workers and this thread, their results taken in the order the
// jobs were added: a job goes to the least busy worker while one has room, else this thread runs it (so it is never
// idle while the workers are full); results are taken as soon as the oldest one is ready.
import type { PoolWorker } from './parallel.ts';

/** Jobs a worker holds at most: enough to keep it busy while this thread runs one, few enough to bound memory. */
export const IN_FLIGHT = 3;

interface Entry<T> {
  reply: Promise<T>;
  ready: boolean;
}

export class InOrder<T> {
  private readonly queue: Entry<T>[] = [];
  private readonly most: number;

  constructor(private readonly workers: PoolWorker[]) {
    this.most = workers.length * IN_FLIGHT + 2; // results waiting at most (the workers' and this thread's)
  }

  /**
   * Adds a job: `onWorker` on a worker with room, else `here` on this thread (an error thrown there is taken in its
   * turn, as a worker's is); then gives `take` every result that is ready, in order, waiting for the oldest only
   * when too many are waiting.
   */
  async add(onWorker: (w: PoolWorker) => Promise<T>, here: () => T, take: (r: T) => void): Promise<void> {
    const w = this.workers.reduce((a, b) => (b.busy < a.busy ? b : a));
    let reply: Promise<T>;
    const mine = w.busy >= IN_FLIGHT;
    if (!mine) reply = onWorker(w);
    else {
      try {
        reply = Promise.resolve(here());
      } catch (e) {
        reply = Promise.reject(e);
      }
    }
    const entry: Entry<T> = { reply, ready: false };
    const settle = (): void => {
      entry.ready = true;
    };
    reply.then(settle, settle); // awaited in order below; no unhandled rejection while an earlier one is awaited
    this.queue.push(entry);
    // After a job here, the workers' replies get their turn (they arrive as messages): their room shows again.
    if (mine) await new Promise(setImmediate);
    while (this.queue.length > 0 && (this.queue[0].ready || this.queue.length > this.most)) take(await this.queue.shift()!.reply);
  }

  /** Takes every result left, in order. */
  async finish(take: (r: T) => void): Promise<void> {
    for (const e of this.queue.splice(0)) take(await e.reply);
  }
}
