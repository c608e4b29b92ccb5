// Hashing: canonical JSON (the key material's text) and the stat-keyed file-hash cache.
import { mkdtempSync, rmSync, writeFileSync, utimesSync } from 'node:fs';
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
  it('reuses a hash while (size, mtime, inode) match and re-reads when mtime changes', async () => {
    const d = mkdtempSync(join(tmpdir(), 'peftmake-unit-'));
    try {
      const f = join(d, 'f.txt');
      writeFileSync(f, 'abc');
      utimesSync(f, 1_000_000, 1_000_000);
      const cache = new HashCache(join(d, 'cache.json'));
      expect((await hashFileCached(f, cache)).sha256).toBe(sha256Hex('abc'));
      cache.save();
      // Same size, same mtime, different content: the cache (by design) answers without reading.
      writeFileSync(f, 'abd');
      utimesSync(f, 1_000_000, 1_000_000);
      const warm = new HashCache(join(d, 'cache.json'));
      expect((await hashFileCached(f, warm)).sha256).toBe(sha256Hex('abc'));
      utimesSync(f, 1_000_005, 1_000_005);
      expect((await hashFileCached(f, warm)).sha256).toBe(sha256Hex('abd'));
      expect(await sha256File(f)).toBe(sha256Hex('abd'));
      // A file modified just now is never trusted from the cache: a same-size rewrite in the same tick is seen.
      writeFileSync(f, 'xyz');
      await hashFileCached(f, warm);
      writeFileSync(f, 'xyw');
      expect((await hashFileCached(f, warm)).sha256).toBe(sha256Hex('xyw'));
      // Pruning drops what this process never looked at.
      const g = join(d, 'g.txt');
      writeFileSync(g, 'g');
      utimesSync(g, 1_000_000, 1_000_000);
      await hashFileCached(g, warm);
      utimesSync(f, 1_000_010, 1_000_010);
      await hashFileCached(f, warm);
      warm.save();
      expect(Object.keys(JSON.parse((await import('node:fs')).readFileSync(join(d, 'cache.json'), 'utf8'))).sort()).toEqual([f, g].sort());
      const next = new HashCache(join(d, 'cache.json'));
      await hashFileCached(g, next);
      next.save(true);
      const saved = JSON.parse((await import('node:fs')).readFileSync(join(d, 'cache.json'), 'utf8'));
      expect(Object.keys(saved)).toEqual([g]);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
