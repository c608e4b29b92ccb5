// Stat-state digests of files and folder trees through the peft_fs addon (native/src/fs_addon/tree_digest.cc), on two
// pool threads: what the no-op snapshot compares. A digest changes when any entry under a path is added, removed,
// renamed, or changes size, inode, mtime, ctime, mode or kind, and when the path's real location changes.
import { fsAddon } from './scan-dir.ts';

export interface TreeDigests {
  /** Per path, 32 hex digits. */
  digests: string[];
  /** Per path, the newest mtime / ctime (ms since the epoch) seen anywhere under it. */
  newestMs: number[];
}

const RECORD = 24;

/** True where the addon with treeDigest is built (and not turned off). */
export function treeDigestAvailable(): boolean {
  return typeof fsAddon()?.treeDigest === 'function';
}

/**
 * Digests of `paths` (absolute), in order; folders are walked (never into `.git`, `node_modules` or `skip`, whose
 * names still count). The paths are dealt to `threads` calls round-robin, each on its own pool thread.
 */
export async function treeDigests(paths: readonly string[], skip: string, threads = 2): Promise<TreeDigests> {
  const digest = fsAddon()?.treeDigest;
  if (!digest) throw new Error('treeDigests: the peft_fs addon is not built');
  const n = Math.max(1, Math.min(threads, paths.length));
  const parts = Array.from({ length: n }, (_, t) => paths.filter((_, i) => i % n === t));
  const bufs = await Promise.all(parts.map((p) => digest(p, skip)));
  const digests = new Array<string>(paths.length);
  const newestMs = new Array<number>(paths.length);
  for (let t = 0; t < n; t++) {
    const b = bufs[t];
    for (let k = 0; k < parts[t].length; k++) {
      digests[k * n + t] = b.toString('hex', k * RECORD, k * RECORD + 16);
      newestMs[k * n + t] = b.readDoubleLE(k * RECORD + 16);
    }
  }
  return { digests, newestMs };
}
