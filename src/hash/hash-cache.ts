// File-hash cache keyed by the file's stamp (path, size, inode, mtime and ctime): an unchanged file is never re-read.
// Persisted in the store as one compact binary file (fixed-size records + a path table), read in one call.
import { mkdirSync, readFileSync, renameSync, writeFileSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';

/**
 * What the cache compares: a rewrite changes ctime even when its size and mtime are put back (`touch -d`, utimes).
 * Times are the stat's milliseconds as doubles (exact to under a microsecond today). That is enough: an entry is
 * kept only when its ctime lies at least RACY_NS before the moment of hashing, and any later change of the file sets
 * its ctime to the clock at that change, so a changed file's ctime differs from the stored one by seconds.
 */
export interface FileStamp {
  size: number;
  ino: number;
  mtimeMs: number;
  ctimeMs: number;
}

export function stampOf(st: Stats): FileStamp {
  return { size: st.size, ino: st.ino, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
}

/**
 * A file whose mtime or ctime lies this close to the moment it was hashed may change again within the same
 * timestamp tick without its stamp changing ("racily clean", as git calls it; 2 s covers the coarsest file systems):
 * such entries are never stored, so the next look re-reads the file.
 */
export const RACY_NS = 2_000_000_000n;
const RACY_MS = Number(RACY_NS / 1_000_000n);

// File layout: MAGIC (8 bytes), u32 count, u32 path-table bytes, then `count` stamps of 4 float64 LE (size, ino,
// mtimeMs, ctimeMs), then `count` SHA-256 hashes (32 bytes each), then the paths, UTF-8, each ended by a NUL.
// Entries are written in the order the build looked them up, so the next build finds each at the cursor.
const MAGIC = Buffer.from('PMHCACH2');
const HEAD = 16;
const STAMP = 32;
const SHA = 32;

export class HashCache {
  private stamps = new Float64Array(0);
  /** Every loaded hash as hex, one string: an entry's hash is a slice of it (no per-entry conversion). */
  private hex = '';
  private shaBytes: Buffer = Buffer.alloc(0);
  private loadedPaths: string[] = [];
  private count = 0;
  /** Loaded entries are looked up in file order first (a build asks in the order it asked last time)... */
  private cursor = 0;
  /** ...and through this path -> index map, built on the first lookup out of order. */
  private index: Map<string, number> | undefined;
  /** Loaded records this process looked at (for pruning; in the order looked at), and those replaced or dropped. */
  private touched = new Uint8Array(0);
  private readonly order: (number | string)[] = [];
  /** Loaded records whose stamp no longer matched, by path (set() replaces them without a search). */
  private readonly stale = new Map<string, number>();
  private gone = new Uint8Array(0);
  /** Entries set by this process (new files, changed files). */
  private readonly added = new Map<string, { s: FileStamp; sha256: string }>();
  private dirty = false;
  private readonly now: () => number;

  /** `now` (ms since the epoch) is the clock racy entries are judged by; tests move it. */
  constructor(
    private readonly file?: string,
    opts: { now?: () => number } = {},
  ) {
    this.now = opts.now ?? Date.now;
    if (file) this.load(file);
  }

  private load(file: string): void {
    let buf: Buffer;
    try {
      buf = readFileSync(file);
    } catch {
      return; // no cache yet
    }
    if (buf.length < HEAD || !buf.subarray(0, 8).equals(MAGIC)) return; // an older or corrupt cache: start empty
    const count = buf.readUInt32LE(8);
    const pathBytes = buf.readUInt32LE(12);
    const shaAt = HEAD + count * STAMP;
    const pathsAt = shaAt + count * SHA;
    if (buf.length !== pathsAt + pathBytes) return;
    const paths = count ? buf.toString('utf8', pathsAt).split('\0') : [''];
    if (paths.length !== count + 1) return;
    const stamps = new Uint8Array(count * STAMP); // an aligned copy, read as float64
    stamps.set(buf.subarray(HEAD, shaAt));
    this.stamps = new Float64Array(stamps.buffer);
    this.hex = buf.toString('hex', shaAt, pathsAt);
    this.shaBytes = buf.subarray(shaAt, pathsAt);
    this.loadedPaths = paths;
    this.count = count;
    this.touched = new Uint8Array(count);
    this.gone = new Uint8Array(count);
  }

  /** The loaded record of `path`, or -1. */
  private find(path: string): number {
    const c = this.cursor;
    if (c < this.count && this.loadedPaths[c] === path) {
      this.cursor = c + 1;
      return c;
    }
    if (!this.index) {
      this.index = new Map();
      for (let i = 0; i < this.count; i++) this.index.set(this.loadedPaths[i], i);
    }
    const i = this.index.get(path);
    if (i === undefined) return -1;
    this.cursor = i + 1;
    return i;
  }

  get(path: string, s: FileStamp): string | undefined {
    const a = this.added.get(path);
    if (a) {
      const t = a.s;
      return t.size === s.size && t.ino === s.ino && t.mtimeMs === s.mtimeMs && t.ctimeMs === s.ctimeMs ? a.sha256 : undefined;
    }
    const i = this.find(path);
    if (i < 0 || this.gone[i]) return undefined;
    if (!this.touched[i]) {
      this.touched[i] = 1;
      this.order.push(i);
    }
    const f = this.stamps;
    const o = i * 4;
    if (f[o] !== s.size || f[o + 1] !== s.ino || f[o + 2] !== s.mtimeMs || f[o + 3] !== s.ctimeMs) {
      this.stale.set(path, i);
      return undefined;
    }
    return this.hex.slice(i * 64, i * 64 + 64);
  }

  /** Records the hash of a file read after it was stamped `s` (racy stamps are not kept). */
  set(path: string, s: FileStamp, sha256: string): void {
    this.dirty = true;
    const i = this.stale.get(path) ?? (this.added.has(path) ? -1 : this.find(path));
    if (i >= 0) this.gone[i] = 1;
    const now = this.now();
    if (s.mtimeMs > now - RACY_MS || s.ctimeMs > now - RACY_MS) {
      this.added.delete(path);
      return;
    }
    if (!this.added.has(path)) this.order.push(path);
    this.added.set(path, { s: { ...s }, sha256 });
  }

  /** Writes the cache; with `prune`, entries this process never looked at (deleted or undeclared files) are dropped. */
  save(prune = false): void {
    if (prune)
      for (let i = 0; i < this.count; i++)
        if (!this.touched[i] && !this.gone[i]) {
          this.gone[i] = 1;
          this.dirty = true;
        }
    if (!this.file || !this.dirty) return;
    // In the order of this build's looks, then the loaded entries it did not look at (kept when not pruning).
    const keep: (number | string)[] = [];
    const written = new Set<string>();
    for (const x of this.order)
      if (typeof x === 'number' ? !this.gone[x] : this.added.has(x) && !written.has(x)) {
        keep.push(x);
        if (typeof x === 'string') written.add(x);
      }
    for (let i = 0; i < this.count; i++) if (!this.touched[i] && !this.gone[i]) keep.push(i);
    const count = keep.length;
    const names: string[] = [];
    const stamps = Buffer.alloc(count * STAMP);
    const shas = Buffer.alloc(count * SHA);
    let r = 0;
    for (const x of keep) {
      if (typeof x === 'number') {
        Buffer.from(this.stamps.buffer, x * STAMP, STAMP).copy(stamps, r * STAMP);
        this.shaBytes.copy(shas, r * SHA, x * SHA, (x + 1) * SHA);
        names.push(this.loadedPaths[x]);
        r++;
        continue;
      }
      const p = x;
      const { s, sha256 } = this.added.get(p)!;
      const o = r * STAMP;
      stamps.writeDoubleLE(s.size, o);
      stamps.writeDoubleLE(s.ino, o + 8);
      stamps.writeDoubleLE(s.mtimeMs, o + 16);
      stamps.writeDoubleLE(s.ctimeMs, o + 24);
      shas.write(sha256, r * SHA, SHA, 'hex');
      names.push(p);
      r++;
    }
    const pathTable = Buffer.from(names.length ? `${names.join('\0')}\0` : '', 'utf8');
    const head = Buffer.alloc(HEAD);
    MAGIC.copy(head);
    head.writeUInt32LE(count, 8);
    head.writeUInt32LE(pathTable.length, 12);
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, Buffer.concat([head, stamps, shas, pathTable]));
    renameSync(tmp, this.file);
    this.dirty = false;
  }

  /** Every entry (path, stamp, hash): for tests and inspection. */
  entries(): { path: string; stamp: FileStamp; sha256: string }[] {
    const out: { path: string; stamp: FileStamp; sha256: string }[] = [];
    for (let i = 0; i < this.count; i++) {
      if (this.gone[i]) continue;
      const f = this.stamps;
      out.push({
        path: this.loadedPaths[i],
        stamp: { size: f[i * 4], ino: f[i * 4 + 1], mtimeMs: f[i * 4 + 2], ctimeMs: f[i * 4 + 3] },
        sha256: this.hex.slice(i * 64, i * 64 + 64),
      });
    }
    for (const [path, { s, sha256 }] of this.added) out.push({ path, stamp: { ...s }, sha256 });
    return out;
  }
}
