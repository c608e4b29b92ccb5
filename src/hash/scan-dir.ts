// Folder scans through the small peft_fs addon (native/src/fs_addon): a folder's entries and the stat of each file
// in one call. Optional: where the addon is not built, callers walk with readdir / stat as before.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { FileStamp } from './hash-cache.ts';

export const FS_ADDON_PATH = join(import.meta.dirname, '..', '..', 'native', 'build', 'Release', 'peft_fs.node');

/** One folder: entry names, their kinds (ENTRY_*) and six numbers per entry (see stampAt). */
export interface DirScan {
  names: string[];
  kinds: Uint8Array;
  stats: Float64Array;
}

export const ENTRY_FILE = 1;
export const ENTRY_DIR = 2;
export const ENTRY_LINK = 3;

/** The addon's functions (treeDigest: see tree-digest.ts; hashFiles: native-hash.ts). */
export interface FsAddon {
  scanDir(dir: string): DirScan | null;
  treeDigest?(paths: string[], skip: string): Promise<Buffer>;
  hashFiles?(paths: string[], threads: number): Promise<{ shas: Buffer; errnos: Int32Array; stages: Uint8Array }>;
}

let addon: FsAddon | null | undefined;

/** The loaded addon, or undefined where it is not built (PEFTMAKE_NO_FS_ADDON=1 turns it off, for tests). */
export function fsAddon(): FsAddon | undefined {
  if (process.env.PEFTMAKE_NO_FS_ADDON === '1') return undefined;
  if (addon === undefined) {
    addon = null;
    if (existsSync(FS_ADDON_PATH)) {
      try {
        addon = createRequire(import.meta.url)(FS_ADDON_PATH) as FsAddon;
      } catch {
        addon = null; // built for another Node ABI, say: the JS walk is used
      }
    }
  }
  return addon ?? undefined;
}

/** The addon's scanDir, or undefined where it is not built. */
export function nativeScanDir(): ((dir: string) => DirScan | null) | undefined {
  return fsAddon()?.scanDir;
}

/**
 * The stamp of entry `i` (what the name resolves to, as stat reports it), or undefined where that stat failed.
 * Milliseconds are computed as Node's Stats computes mtimeMs (seconds * 1e3 + nanoseconds / 1e6), so a stamp from a
 * scan equals one from statSync bit for bit.
 */
export function stampAt(scan: DirScan, i: number): FileStamp | undefined {
  const s = scan.stats;
  const o = i * 6;
  if (Number.isNaN(s[o])) return undefined;
  return { size: s[o], ino: s[o + 1], mtimeMs: s[o + 2] * 1e3 + s[o + 3] / 1e6, ctimeMs: s[o + 4] * 1e3 + s[o + 5] / 1e6 };
}
