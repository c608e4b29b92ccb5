// Hashing big files on several cores: a small pool of worker threads, each hashing whole files (SHA-256 of one file
// is sequential). Started for one batch of big files and stopped after it; small files stay on the main thread.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** Plain JavaScript run by each worker (evaluated, so it loads the same way from the sources and from the CLI bundle). */
const WORKER_CODE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { openSync, readSync, closeSync } = require('node:fs');
const buf = Buffer.allocUnsafe(1 << 20);
parentPort.on('message', ({ id, path }) => {
  try {
    const h = createHash('sha256');
    const fd = openSync(path, 'r');
    try {
      for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(n === buf.length ? buf : buf.subarray(0, n));
    } finally {
      closeSync(fd);
    }
    parentPort.postMessage({ id, sha256: h.digest('hex') });
  } catch (e) {
    parentPort.postMessage({ id, error: { message: e.message, code: e.code } });
  }
});
`;

/** Files at least this big are worth a worker hop; a batch needs this many bytes in them to start the pool. */
export const POOL_FILE_BYTES = 16 << 20;
export const POOL_BATCH_BYTES = 256 << 20;

/** How many workers a batch of `files` big files gets: one per core, at most 8, never more than the files. */
export function poolSize(files: number): number {
  return Math.max(1, Math.min(files, availableParallelism(), 8));
}

/** SHA-256 (hex) of each path, in order, hashed by `workers` threads; rejects with the first file's read error. */
export async function sha256Parallel(paths: readonly string[], workers = poolSize(paths.length)): Promise<string[]> {
  const out = new Array<string>(paths.length);
  const pool = Array.from({ length: Math.min(workers, paths.length) }, () => new Worker(WORKER_CODE, { eval: true }));
  let next = 0;
  try {
    await Promise.all(
      pool.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            const send = (): void => {
              if (next >= paths.length) return resolve();
              const id = next++;
              w.postMessage({ id, path: paths[id] });
            };
            w.on('message', (m: { id: number; sha256?: string; error?: { message: string; code?: string } }) => {
              if (m.error) return reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
              out[m.id] = m.sha256!;
              send();
            });
            w.on('error', reject);
            send();
          }),
      ),
    );
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
  return out;
}
