// File-hash cache keyed by (path, size, mtime, inode): an unchanged file is never re-read. Persisted as JSON in the store.
import { readFileSync, writeFileSync, mkdirSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';

interface Entry {
  size: number;
  mtimeNs: string;
  ino: number;
  sha256: string;
}

/**
 * A file modified this close to the moment it was hashed may be modified again within the same timestamp tick
 * without its (size, mtime) changing ("racy" entries, as git calls them): such entries are not trusted.
 */
const RACY_NS = 2_000_000_000n;

export class HashCache {
  /** The parsed file itself, used as the table (copying 100,000 entries into a Map cost more than the parse). */
  private entries: Record<string, Entry> = Object.create(null);
  private dirty = false;
  private readonly touched = new Set<string>();

  constructor(private readonly file?: string) {
    if (!file) return;
    try {
      const raw: unknown = JSON.parse(readFileSync(file, 'utf8'));
      if (raw && typeof raw === 'object' && !Array.isArray(raw)) this.entries = raw as Record<string, Entry>;
    } catch {
      // no cache yet, or a corrupt one: start empty
    }
  }

  get(path: string, size: number, mtimeNs: bigint, ino: number): string | undefined {
    const e = Object.hasOwn(this.entries, path) ? this.entries[path] : undefined;
    this.touched.add(path);
    return e && e.size === size && e.mtimeNs === String(mtimeNs) && e.ino === ino ? e.sha256 : undefined;
  }

  set(path: string, size: number, mtimeNs: bigint, ino: number, sha256: string): void {
    this.touched.add(path);
    const now = BigInt(Date.now()) * 1_000_000n;
    if (mtimeNs > now - RACY_NS) {
      delete this.entries[path];
      this.dirty = true;
      return;
    }
    this.entries[path] = { size, mtimeNs: String(mtimeNs), ino, sha256 };
    this.dirty = true;
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
