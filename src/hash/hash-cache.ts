// File-hash cache keyed by the file's stamp (path, size, inode, mtime and ctime to the nanosecond): an unchanged file
// is never re-read. Persisted as JSON in the store.
import { mkdirSync, readFileSync, renameSync, writeFileSync, type BigIntStats } from 'node:fs';
import { dirname } from 'node:path';

/** What the cache compares: a rewrite changes ctime even when its size and mtime are put back (`touch -d`, utimes). */
export interface FileStamp {
  size: number;
  ino: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

export function stampOf(st: BigIntStats): FileStamp {
  return { size: Number(st.size), ino: Number(st.ino), mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
}

interface Entry {
  size: number;
  ino: number;
  mtimeNs: string;
  ctimeNs: string;
  sha256: string;
}

/**
 * A file whose mtime or ctime lies this close to the moment it was hashed may change again within the same
 * timestamp tick without its stamp changing ("racily clean", as git calls it; 2 s covers the coarsest file systems):
 * such entries are never stored, so the next look re-reads the file.
 */
export const RACY_NS = 2_000_000_000n;

export class HashCache {
  /** The parsed file itself, used as the table (copying 100,000 entries into a Map cost more than the parse). */
  private entries: Record<string, Entry> = Object.create(null);
  private dirty = false;
  private readonly touched = new Set<string>();
  private readonly now: () => number;

  /** `now` (ms since the epoch) is the clock racy entries are judged by; tests move it. */
  constructor(
    private readonly file?: string,
    opts: { now?: () => number } = {},
  ) {
    this.now = opts.now ?? Date.now;
    if (!file) return;
    try {
      const raw: unknown = JSON.parse(readFileSync(file, 'utf8'));
      if (raw && typeof raw === 'object' && !Array.isArray(raw)) this.entries = raw as Record<string, Entry>;
    } catch {
      // no cache yet, or a corrupt one: start empty
    }
  }

  get(path: string, s: FileStamp): string | undefined {
    const e = Object.hasOwn(this.entries, path) ? this.entries[path] : undefined;
    this.touched.add(path);
    const same = e && e.size === s.size && e.ino === s.ino && e.mtimeNs === String(s.mtimeNs) && e.ctimeNs === String(s.ctimeNs);
    return same ? e.sha256 : undefined;
  }

  /** Records the hash of a file read after it was stamped `s` (racy stamps are not kept). */
  set(path: string, s: FileStamp, sha256: string): void {
    this.touched.add(path);
    this.dirty = true;
    const now = BigInt(Math.floor(this.now())) * 1_000_000n;
    if (s.mtimeNs > now - RACY_NS || s.ctimeNs > now - RACY_NS) {
      delete this.entries[path];
      return;
    }
    this.entries[path] = { size: s.size, ino: s.ino, mtimeNs: String(s.mtimeNs), ctimeNs: String(s.ctimeNs), sha256 };
  }

  /** Writes the cache; with `prune`, entries this process never looked at (deleted or undeclared files) are dropped. */
  save(prune = false): void {
    if (prune)
      for (const k of Object.keys(this.entries))
        if (!this.touched.has(k)) {
          delete this.entries[k];
          this.dirty = true;
        }
    if (!this.file || !this.dirty) return;
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.entries));
    renameSync(tmp, this.file);
    this.dirty = false;
  }
}
