// File-hash cache keyed by (path, size, mtime, inode): an unchanged file is never re-read. Persisted as JSON in the store.
import { readFileSync, writeFileSync, mkdirSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';

interface Entry {
  size: number;
  mtimeNs: string;
  ino: number;
  sha256: string;
}

export class HashCache {
  private entries = new Map<string, Entry>();
  private dirty = false;

  constructor(private readonly file?: string) {
    if (!file) return;
    try {
      const raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Entry>;
      this.entries = new Map(Object.entries(raw));
    } catch {
      // no cache yet, or a corrupt one: start empty
    }
  }

  get(path: string, size: number, mtimeNs: bigint, ino: number): string | undefined {
    const e = this.entries.get(path);
    return e && e.size === size && e.mtimeNs === String(mtimeNs) && e.ino === ino ? e.sha256 : undefined;
  }

  set(path: string, size: number, mtimeNs: bigint, ino: number, sha256: string): void {
    this.entries.set(path, { size, mtimeNs: String(mtimeNs), ino, sha256 });
    this.dirty = true;
  }

  save(): void {
    if (!this.file || !this.dirty) return;
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(Object.fromEntries(this.entries)));
    renameSync(tmp, this.file);
    this.dirty = false;
  }
}
