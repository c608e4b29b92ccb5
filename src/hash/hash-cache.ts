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

// File layout: MAGIC (8 bytes), u32 count, u32 path-table bytes, then `count` records of REC bytes (size, ino,
// mtimeMs, ctimeMs as float64 LE, then the 32-byte SHA-256), then the paths, UTF-8, each ended by a NUL.
const MAGIC = Buffer.from('PMHCACH1');
const HEAD = 16;
const REC = 64;

export class HashCache {
  /** Loaded entries: path -> record index into `stamps` / `shas` (a Map of indices, no object per file). */
  private index = new Map<string, number>();
  private stamps = new Float64Array(0);
  private shas = Buffer.alloc(0);
  private loadedPaths: string[] = [];
  /** Loaded records this process looked at (for pruning), and records that were replaced or dropped. */
  private touched = new Uint8Array(0);
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
    if (buf.length !== HEAD + count * REC + pathBytes) return;
    const paths = count ? buf.toString('utf8', HEAD + count * REC).split('\0') : [];
    if (paths.length !== count + 1) return;
    // An aligned copy of the records, read as float64 stamps; the hashes stay bytes until asked for.
    const recs = new Uint8Array(count * REC);
    recs.set(buf.subarray(HEAD, HEAD + count * REC));
    this.stamps = new Float64Array(recs.buffer);
    this.shas = Buffer.from(recs.buffer);
    this.loadedPaths = paths;
    for (let i = 0; i < count; i++) this.index.set(paths[i], i);
    this.touched = new Uint8Array(count);
    this.gone = new Uint8Array(count);
  }

  get(path: string, s: FileStamp): string | undefined {
    const a = this.added.get(path);
    if (a) {
      const t = a.s;
      return t.size === s.size && t.ino === s.ino && t.mtimeMs === s.mtimeMs && t.ctimeMs === s.ctimeMs ? a.sha256 : undefined;
    }
    const i = this.index.get(path);
    if (i === undefined || this.gone[i]) return undefined;
    this.touched[i] = 1;
    const f = this.stamps;
    const o = i * (REC / 8);
    if (f[o] !== s.size || f[o + 1] !== s.ino || f[o + 2] !== s.mtimeMs || f[o + 3] !== s.ctimeMs) return undefined;
    return this.shas.toString('hex', i * REC + 32, i * REC + 64);
  }

  /** Records the hash of a file read after it was stamped `s` (racy stamps are not kept). */
  set(path: string, s: FileStamp, sha256: string): void {
    this.dirty = true;
    const i = this.index.get(path);
    if (i !== undefined) this.gone[i] = 1;
    const now = this.now();
    if (s.mtimeMs > now - RACY_MS || s.ctimeMs > now - RACY_MS) {
      this.added.delete(path);
      return;
    }
    this.added.set(path, { s: { ...s }, sha256 });
  }

  /** Writes the cache; with `prune`, entries this process never looked at (deleted or undeclared files) are dropped. */
  save(prune = false): void {
    if (prune)
      for (let i = 0; i < this.touched.length; i++)
        if (!this.touched[i] && !this.gone[i]) {
          this.gone[i] = 1;
          this.dirty = true;
        }
    if (!this.file || !this.dirty) return;
    const keep: number[] = [];
    for (let i = 0; i < this.gone.length; i++) if (!this.gone[i]) keep.push(i);
    const count = keep.length + this.added.size;
    const names: string[] = [];
    const recs = Buffer.alloc(count * REC);
    let r = 0;
    for (const i of keep) {
      this.shas.copy(recs, r * REC, i * REC, (i + 1) * REC);
      names.push(this.loadedPaths[i]);
      r++;
    }
    for (const [p, { s, sha256 }] of this.added) {
      const o = r * REC;
      recs.writeDoubleLE(s.size, o);
      recs.writeDoubleLE(s.ino, o + 8);
      recs.writeDoubleLE(s.mtimeMs, o + 16);
      recs.writeDoubleLE(s.ctimeMs, o + 24);
      recs.write(sha256, o + 32, 32, 'hex');
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
    writeFileSync(tmp, Buffer.concat([head, recs, pathTable]));
    renameSync(tmp, this.file);
    this.dirty = false;
  }

  /** Every entry (path, stamp, hash): for tests and `fsck`-style inspection. */
  entries(): { path: string; stamp: FileStamp; sha256: string }[] {
    const out: { path: string; stamp: FileStamp; sha256: string }[] = [];
    for (let i = 0; i < this.loadedPaths.length - 1; i++) {
      if (this.gone[i]) continue;
      const o = i * (REC / 8);
      const f = this.stamps;
      out.push({
        path: this.loadedPaths[i],
        stamp: { size: f[o], ino: f[o + 1], mtimeMs: f[o + 2], ctimeMs: f[o + 3] },
        sha256: this.shas.toString('hex', i * REC + 32, i * REC + 64),
      });
    }
    for (const [path, { s, sha256 }] of this.added) out.push({ path, stamp: { ...s }, sha256 });
    return out;
  }
}
