// Unit tests of the core's small parts: JSON pointer lines, canonical JSON, globs, suggestions, graph, reasons,
// the hash cache, and the build lock.
import { mkdtempSync, rmSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir, hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lineOf, parseJsonWithLocations } from '../../../src/config/json-source.ts';
import { canonicalJson, sha256Hex } from '../../../src/hash/canonical-json.ts';
import { globToRegExp } from '../../../src/util/glob.ts';
import { closest, editDistance } from '../../../src/util/suggest.ts';
import { downstreamOf, findCycle, topoOrder, upstreamClosure } from '../../../src/graph/graph.ts';
import { diffReasons, type KeyMaterial } from '../../../src/plan/reasons.ts';
import { formatReason } from '../../../src/store/reasons.ts';
import { HashCache } from '../../../src/hash/hash-cache.ts';
import { hashFileCached, sha256File } from '../../../src/hash/file-hash.ts';
import { acquireLock } from '../../../src/store/lock.ts';
import { StoreLayout } from '../../../src/store/layout.ts';
import { escapesProject, globBase, normalizeRel } from '../../../src/util/paths.ts';
import type { StageManifest } from '../../../src/stage.ts';

describe('json-source', () => {
  it('maps pointers to lines, keys to their own line, and finds duplicates', () => {
    const text = '{\n  "a": {\n    "b": [\n      1,\n      {"c": "x/y"}\n    ]\n  },\n  "a~b/c": 2,\n  "a": 3\n}';
    const { value, locations, duplicates } = parseJsonWithLocations(text);
    expect(value).toEqual({ a: 3, 'a~b/c': 2 });
    expect(lineOf(locations, '/a/b/1/c')).toBe(5);
    expect(lineOf(locations, '/a/b/0')).toBe(4);
    expect(lineOf(locations, '/a~0b~1c')).toBe(8);
    expect(lineOf(locations, '/a/b/9/zzz')).toBe(3); // nearest ancestor
    expect(duplicates).toEqual([{ pointer: '/a', line: 9 }]);
  });

  it('is strict JSON and keeps __proto__ as a plain key', () => {
    for (const bad of ['{"a": 1,}', "{'a': 1}", '{"a": 01}', '[1 2]', '{"a": 1} x', '{"a": "\\q"}', '// c\n{}']) expect(() => parseJsonWithLocations(bad)).toThrow();
    const v = parseJsonWithLocations('{"__proto__": {"x": 1}, "n": -1.5e3, "s": "\\u00e9\\n"}').value as Record<string, unknown>;
    expect(Object.keys(v)).toEqual(['__proto__', 'n', 's']);
    expect(v.n).toBe(-1500);
    expect(v.s).toBe('é\n');
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});

describe('canonical JSON', () => {
  it('sorts keys at every level and ignores undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: undefined } })).toBe('{"a":{"d":[2,{"y":2,"z":1}]},"b":1}');
    expect(sha256Hex(canonicalJson({ x: 1, y: 2 }))).toBe(sha256Hex(canonicalJson({ y: 2, x: 1 })));
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('paths and globs', () => {
  it('matches * within a segment, ** across directories, braces and classes', () => {
    const re = (g: string): RegExp => globToRegExp(g);
    expect(re('data/*.md').test('data/a.md')).toBe(true);
    expect(re('data/*.md').test('data/sub/a.md')).toBe(false);
    expect(re('data/**/*.md').test('data/a.md')).toBe(true);
    expect(re('data/**/*.md').test('data/x/y/a.md')).toBe(true);
    expect(re('*.{md,txt}').test('a.txt')).toBe(true);
    expect(re('f[0-9].bin').test('f7.bin')).toBe(true);
    expect(re('f[!0-9].bin').test('f7.bin')).toBe(false);
    expect(re('a+b(1).txt').test('a+b(1).txt')).toBe(true);
    expect(globBase('data/notes/*.md')).toBe('data/notes');
    expect(globBase('**/*.md')).toBe('.');
    expect(normalizeRel('./a//b/')).toBe('a/b');
    expect(['..', '../x', '/abs', 'a/../../b'].map(escapesProject)).toEqual([true, true, true, true]);
    expect(['a', 'a/../b', '.', 'x/..'].map(escapesProject)).toEqual([false, false, false, false]);
  });
});

describe('suggestions', () => {
  it('counts transpositions as one edit and refuses far-off names', () => {
    expect(editDistance('alpah', 'alpha')).toBe(1);
    expect(closest('domian', ['domain', 'task'])).toBe('domain');
    expect(closest('zzz', ['domain', 'task'])).toBeUndefined();
    expect(closest('lrate', ['lr', 'lora'])).toBe('lr');
  });
});

describe('graph', () => {
  const edges = new Map<string, string[]>([
    ['c', ['b']],
    ['b', ['a']],
    ['a', []],
    ['d', ['a']],
  ]);
  it('orders upstream first and computes closures', () => {
    expect(topoOrder(['c', 'b', 'a', 'd'], edges)).toEqual(['a', 'b', 'c', 'd']);
    expect([...upstreamClosure(['c'], edges)].sort()).toEqual(['a', 'b', 'c']);
    expect([...downstreamOf('a', edges)].sort()).toEqual(['b', 'c', 'd']);
    expect(findCycle(['a', 'b', 'c', 'd'], edges)).toBeUndefined();
  });
  it('finds a cycle and prints it in data-flow order', () => {
    const cyc = new Map<string, string[]>([
      ['x', ['z']],
      ['y', ['x']],
      ['z', ['y']],
    ]);
    expect(findCycle(['x', 'y', 'z'], cyc)).toEqual(['x', 'y', 'z', 'x']);
  });
});

describe('reasons', () => {
  it('reports config, params, inputs, upstream and version changes', () => {
    const old = {
      implVersion: '1',
      engineVersion: '0.1.0',
      config: { cmd: 'a', lora: { r: 8 } },
      params: { 'params.json:lr': 1 },
      resolved: {},
      inputs: [
        { path: 'a.txt', sha256: 'x', size: 1 },
        { path: 'b.txt', sha256: 'y', size: 1 },
      ],
      upstream: { 'stages.u': 'k1' },
    } as unknown as StageManifest;
    const now: KeyMaterial = {
      kind: 'command',
      implVersion: '2',
      engineVersion: '0.1.0',
      config: { cmd: 'a', lora: { r: 16 } },
      params: { 'params.json:lr': 2 },
      resolved: {},
      inputs: [
        { path: 'a.txt', sha256: 'x2' },
        { path: 'c.txt', sha256: 'z' },
      ],
      upstream: { 'stages.u': 'k2' },
    };
    const r = diffReasons(old, now);
    expect(r).toEqual([
      { type: 'impl-changed', old: '1', new: '2' },
      { type: 'param-changed', key: 'lora.r', old: 8, new: 16 },
      { type: 'param-changed', key: 'params.json:lr', old: 1, new: 2 },
      { type: 'dep-modified', path: 'a.txt' },
      { type: 'dep-added', path: 'c.txt' },
      { type: 'dep-removed', path: 'b.txt' },
      { type: 'upstream-changed', stage: 'stages.u' },
    ]);
    expect(r.map(formatReason)).toContain('param-changed lora.r: 8 -> 16');
  });
});

describe('hash cache and lock', () => {
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

  it('refuses a live lock, clears a dead one, and releases', async () => {
    const d = mkdtempSync(join(tmpdir(), 'peftmake-unit-'));
    try {
      const layout = new StoreLayout(d);
      const a = await acquireLock(layout, { command: 'build' });
      await expect(acquireLock(layout, { command: 'build' })).rejects.toMatchObject({ code: 'E_LOCKED' });
      a.release();
      writeFileSync(layout.lock, JSON.stringify({ pid: 4_000_000, host: hostname(), startedAt: 'then', command: 'build' }));
      const b = await acquireLock(layout, { command: 'gc' });
      expect(b.clearedStale).toMatchObject({ pid: 4_000_000 });
      b.release();
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
