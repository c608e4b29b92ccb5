// Content hashes of files (SHA-256, streamed), going through the stat-keyed cache so unchanged files are not re-read.
import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { stampOf, type HashCache } from './hash-cache.ts';

const CHUNK = 1 << 20;

/** `sizeHint` (the stat size) sizes the read buffer: small files are read in one call, big ones in 1 MiB chunks. */
export async function sha256File(path: string, sizeHint = CHUNK): Promise<string> {
  const h = createHash('sha256');
  const fh = await open(path, 'r');
  try {
    const len = Math.max(1, Math.min(CHUNK, sizeHint + 1));
    const buf = Buffer.allocUnsafe(len);
    while (true) {
      const { bytesRead } = await fh.read(buf, 0, len, null);
      if (bytesRead === 0) break;
      h.update(bytesRead === len ? buf : buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

export interface FileHash {
  sha256: string;
  size: number;
}

/** Hashes one file, using (and filling) the cache. */
export async function hashFileCached(absPath: string, cache: HashCache): Promise<FileHash> {
  const stamp = stampOf(await stat(absPath, { bigint: true }));
  const hit = cache.get(absPath, stamp);
  if (hit) return { sha256: hit, size: stamp.size };
  const sha256 = await sha256File(absPath, stamp.size);
  cache.set(absPath, stamp, sha256);
  return { sha256, size: stamp.size };
}

/** Runs `fn` over items with at most `limit` in flight, keeping order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
