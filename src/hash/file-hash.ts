// Content hashes of files (SHA-256, streamed), going through the stat-keyed cache so unchanged files are not re-read.
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { type FileStamp, type HashCache, stampOf } from './hash-cache.ts';
import { POOL_BATCH_BYTES, POOL_FILE_BYTES, sha256Parallel } from './hash-pool.ts';
import { nativeHashAvailable, sha256Native } from './native-hash.ts';

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
  const stamp = stampOf(await stat(absPath));
  const hit = cache.get(absPath, stamp);
  if (hit) return { sha256: hit, size: stamp.size };
  const sha256 = await sha256File(absPath, stamp.size);
  cache.set(absPath, stamp, sha256);
  return { sha256, size: stamp.size };
}

/**
 * Hashes many files through the cache, in order. Every file is stat'ed first (or its stamp taken from `stamps`, what
 * the input expansion's folder scans saw), synchronously (a no-op build of
 * 100,000 files is 100,000 stat calls; one promise each cost more than the call); only the files whose stat misses
 * the cache are read: all on the peft_fs addon's threads where it is built; else `concurrency` at a time on this
 * thread, and big ones on a pool of worker threads when there are enough bytes of them to pay for starting it.
 */
export async function hashFilesCached(
  absPaths: readonly string[],
  cache: HashCache,
  concurrency = 16,
  stamps?: ReadonlyMap<string, FileStamp>,
): Promise<FileHash[]> {
  const out = new Array<FileHash>(absPaths.length);
  const misses: { i: number; size: number; stamp: FileStamp }[] = [];
  for (let i = 0; i < absPaths.length; i++) {
    const stamp = stamps?.get(absPaths[i]) ?? stampOf(statSync(absPaths[i]));
    const hit = cache.get(absPaths[i], stamp);
    if (hit) out[i] = { sha256: hit, size: stamp.size };
    else misses.push({ i, size: stamp.size, stamp });
  }
  if (misses.length && nativeHashAvailable()) {
    // Every miss, big or small, on the addon's threads: no promise or buffer per file, all cores busy.
    const shas = await sha256Native(misses.map((m) => absPaths[m.i]));
    misses.forEach((m, k) => {
      cache.set(absPaths[m.i], m.stamp, shas[k]);
      out[m.i] = { sha256: shas[k], size: m.size };
    });
    return out;
  }
  const big = misses.filter((m) => m.size >= POOL_FILE_BYTES);
  const pooled = big.length > 1 && big.reduce((a, m) => a + m.size, 0) >= POOL_BATCH_BYTES ? big : [];
  const here = pooled.length ? misses.filter((m) => m.size < POOL_FILE_BYTES) : misses;
  const record = (m: (typeof misses)[number], sha256: string): void => {
    cache.set(absPaths[m.i], m.stamp, sha256);
    out[m.i] = { sha256, size: m.size };
  };
  await Promise.all([
    pooled.length ? sha256Parallel(pooled.map((m) => absPaths[m.i])).then((shas) => pooled.forEach((m, k) => record(m, shas[k]))) : undefined,
    mapLimit(here, concurrency, async (m) => record(m, await sha256File(absPaths[m.i], m.size))),
  ]);
  return out;
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
