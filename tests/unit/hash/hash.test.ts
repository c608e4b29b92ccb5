// Hashing: canonical JSON (the key material's text) and the stat-keyed file-hash cache.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalJson, sha256Hex } from '../../../src/hash/canonical-json.ts';
import { HashCache } from '../../../src/hash/hash-cache.ts';
import { hashFileCached, sha256File } from '../../../src/hash/file-hash.ts';

describe('canonical JSON', () => {
  it('sorts keys at every level and ignores undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: undefined } })).toBe('{"a":{"d":[2,{"y":2,"z":1}]},"b":1}');
    expect(sha256Hex(canonicalJson({ x: 1, y: 2 }))).toBe(sha256Hex(canonicalJson({ y: 2, x: 1 })));
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('hash cache', () => {
  const later = () => Date.now() + 10_000; // hashed 10 s after the last change: not racy

  it('reuses a hash while the stamp (size, inode, mtime, ctime) matches; a rewrite with its size and mtime put back is re-read', async () => {
    const d = mkdtempSync(join(tmpdir(), 'peftmake-unit-'));
    try {
      const f = join(d, 'f.txt');
      writeFileSync(f, 'abc');
      utimesSync(f, 1_000_000, 1_000_000);
      const file = join(d, 'cache.bin');
      const cache = new HashCache(file, { now: later });
      expect((await hashFileCached(f, cache)).sha256).toBe(sha256Hex('abc'));
      cache.save();
      const warm = new HashCache(file, { now: later });
      const saved = warm.entries();
      expect(saved.map((e) => [e.path, e.sha256])).toEqual([[f, sha256Hex('abc')]]);
      const st = statSync(f);
      expect(saved[0].stamp).toEqual({ size: 3, ino: st.ino, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs });
      // Unchanged: answered from the cache (a poisoned entry shows that nothing was read).
      const poison = new HashCache(file, { now: later });
      poison.set(f, saved[0].stamp, 'ab'.repeat(32));
      poison.save();
      expect((await hashFileCached(f, new HashCache(file, { now: later }))).sha256).toBe('ab'.repeat(32));
      // Same size, same mtime (put back, as `touch -d` does), different content: the ctime moved, so it is re-read.
      writeFileSync(f, 'abd');
      utimesSync(f, 1_000_000, 1_000_000);
      expect((await hashFileCached(f, warm)).sha256).toBe(sha256Hex('abd'));
      utimesSync(f, 1_000_005, 1_000_005);
      expect((await hashFileCached(f, warm)).sha256).toBe(sha256Hex('abd'));
      expect(await sha256File(f)).toBe(sha256Hex('abd'));
      // Pruning drops what this process never looked at.
      const g = join(d, 'g.txt');
      writeFileSync(g, 'g');
      await hashFileCached(g, warm);
      await hashFileCached(f, warm);
      warm.save();
      const paths = (c: HashCache): string[] => c.entries().map((e) => e.path);
      expect(paths(new HashCache(file)).sort()).toEqual([f, g].sort());
      const next = new HashCache(file, { now: later });
      await hashFileCached(g, next);
      next.save(true);
      expect(paths(new HashCache(file))).toEqual([g]);
      // A damaged or foreign cache file is ignored (every file re-read), never trusted or fatal.
      const bytes = readFileSync(file);
      writeFileSync(file, bytes.subarray(0, bytes.length - 3));
      expect(paths(new HashCache(file))).toEqual([]);
      writeFileSync(file, '{"not":"a cache"}');
      expect((await hashFileCached(g, new HashCache(file, { now: later }))).sha256).toBe(sha256Hex('g'));
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('never keeps a racily clean entry: a file changed (mtime or ctime) within 2 s of its hashing is re-read next time', async () => {
    const d = mkdtempSync(join(tmpdir(), 'peftmake-unit-'));
    try {
      const f = join(d, 'f.txt');
      writeFileSync(f, 'xyz');
      const now = new HashCache(undefined);
      await hashFileCached(f, now);
      // the same tick on a coarse clock: same size, same mtime and ctime, new content
      const st = statSync(f);
      now.set(f, { size: 3, ino: st.ino, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs }, sha256Hex('xyz'));
      expect(now.get(f, { size: 3, ino: st.ino, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs })).toBeUndefined();
      // an old mtime does not make it trusted while the ctime is recent (utimes just ran)
      utimesSync(f, 1_000_000, 1_000_000);
      const st2 = statSync(f);
      const s2 = { size: 3, ino: st2.ino, mtimeMs: st2.mtimeMs, ctimeMs: st2.ctimeMs };
      now.set(f, s2, sha256Hex('xyz'));
      expect(now.get(f, s2)).toBeUndefined();
      // judged 10 s later, the same stamp is kept
      const after = new HashCache(undefined, { now: later });
      after.set(f, s2, sha256Hex('xyz'));
      expect(after.get(f, s2)).toBe(sha256Hex('xyz'));
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
