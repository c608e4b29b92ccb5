// Fault injection, the no-op snapshot (src/exec/noop-snapshot.ts): once a no-op build saved the stat state of what its
// plan read, the next build replays it only while nothing changed. Each change below (content with the stat put back,
// mtime, size, inode, a deleted / added file, a params file, pipeline.json, a deleted workspace output, a damaged
// store object, a re-pointed symlink) must rebuild exactly the stages that depend on it, as planning without the
// snapshot does. One world per change, all made before one wait past the racy window.
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/exec/build.ts';
import { snapshotCounts, snapshotFile } from '../../src/exec/noop-snapshot.ts';
import { TOOLCHAIN } from '../../src/cli/toolchain.ts';
import { StoreLayout } from '../../src/store/layout.ts';
import { HashCache } from '../../src/hash/hash-cache.ts';
import { treeDigestAvailable } from '../../src/hash/tree-digest.ts';

const PIPELINE = {
  stages: {
    a: { cmd: 'mkdir -p out && cat data/a/* > out/a.txt', deps: ['data/a'], outs: ['out/a.txt'] },
    b: { cmd: 'mkdir -p out && cat data/b/*.txt > out/b.txt', deps: ['data/b/*.txt'], params: ['lr'], outs: ['out/b.txt'] },
    c: { cmd: 'cat out/a.txt out/b.txt > c.txt', deps: ['out/a.txt', 'out/b.txt'], outs: ['c.txt'] },
    d: { cmd: 'cat data/d/link > d.txt', deps: ['data/d'], outs: ['d.txt'] },
  },
};

function makeProject(): string {
  const dir = mkdtempSync(join(tmpdir(), 'peftmake-snapshot-'));
  for (const d of ['data/a', 'data/b', 'data/d', 'elsewhere']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'data/a/1.txt'), 'one\n');
  writeFileSync(join(dir, 'data/a/2.txt'), 'two\n');
  writeFileSync(join(dir, 'data/b/x.txt'), 'ex\n');
  writeFileSync(join(dir, 'params.json'), JSON.stringify({ lr: 1 }));
  writeFileSync(join(dir, 'elsewhere/t1.txt'), 'target one\n');
  writeFileSync(join(dir, 'elsewhere/t2.txt'), 'target two\n');
  symlinkSync('../../elsewhere/t1.txt', join(dir, 'data/d/link'));
  writeFileSync(join(dir, 'pipeline.json'), JSON.stringify(PIPELINE, null, 2));
  return dir;
}

/**
 * Rewrites one byte in place, then puts the timestamps back: size, inode and mtime are what they were, and its folder
 * is untouched (the reference stamp lives elsewhere): only the file's ctime tells.
 */
function editKeepingStat(file: string, at: number, byte: string): void {
  const st = statSync(file, { bigint: true });
  const ref = join(mkdtempSync(join(tmpdir(), 'peftmake-stamp-')), 'stamp');
  execFileSync('touch', ['-r', file, ref]);
  const fd = openSync(file, 'r+');
  writeSync(fd, byte, at);
  closeSync(fd);
  execFileSync('touch', ['-r', ref, file]);
  rmSync(dirname(ref), { recursive: true });
  const after = statSync(file, { bigint: true });
  expect([after.size, after.ino, after.mtimeNs]).toEqual([st.size, st.ino, st.mtimeNs]);
}

const run = async (dir: string): Promise<Record<string, string>> => {
  const r = await build({ toolchain: TOOLCHAIN, cwd: dir });
  return Object.fromEntries(r.stages.map((s) => [s.name.replace('stages.', ''), s.action]));
};
const allFresh = { a: 'fresh', b: 'fresh', c: 'fresh', d: 'fresh' };

/**
 * Each change, the actions the next build must report (planning without the snapshot gives the same), and how many
 * stages keep their recorded plan (unchanged probes and upstream keys; the rest are hashed and planned).
 */
const CHANGES: Record<string, { change: (dir: string) => void; want: Record<string, string>; reused: number }> = {
  'content, stat put back': { change: (d) => editKeepingStat(join(d, 'data/a/1.txt'), 0, 'O'), want: { ...allFresh, a: 'built', c: 'built' }, reused: 2 },
  'mtime only (same bytes)': { change: (d) => execFileSync('touch', [join(d, 'data/a/1.txt')]), want: allFresh, reused: 3 },
  size: { change: (d) => writeFileSync(join(d, 'data/b/x.txt'), 'ex and more\n'), want: { ...allFresh, b: 'built', c: 'built' }, reused: 2 },
  'inode, same size and mtime': {
    change: (d) => {
      const f = join(d, 'data/a/2.txt');
      writeFileSync(`${f}.new`, 'TWO\n');
      execFileSync('touch', ['-r', f, `${f}.new`]);
      renameSync(`${f}.new`, f);
    },
    want: { ...allFresh, a: 'built', c: 'built' },
    reused: 2,
  },
  'deleted file': { change: (d) => unlinkSync(join(d, 'data/a/2.txt')), want: { ...allFresh, a: 'built', c: 'built' }, reused: 2 },
  'added file the glob matches': { change: (d) => writeFileSync(join(d, 'data/b/y.txt'), 'why\n'), want: { ...allFresh, b: 'built', c: 'built' }, reused: 2 },
  'added file the glob does not match': { change: (d) => writeFileSync(join(d, 'data/b/y.md'), 'not an input\n'), want: allFresh, reused: 3 },
  'params file': { change: (d) => writeFileSync(join(d, 'params.json'), JSON.stringify({ lr: 2 })), want: { ...allFresh, b: 'built', c: 'built' }, reused: 2 },
  'pipeline.json': {
    change: (d) => {
      const p = structuredClone(PIPELINE);
      p.stages.c.cmd = 'cat out/b.txt out/a.txt > c.txt';
      writeFileSync(join(d, 'pipeline.json'), JSON.stringify(p, null, 2));
    },
    want: { ...allFresh, c: 'built' },
    reused: 0,
  },
  'deleted workspace output': { change: (d) => unlinkSync(join(d, 'out/b.txt')), want: { ...allFresh, b: 'restored' }, reused: 3 },
  'damaged store object': {
    change: (d) => {
      const ref = JSON.parse(readFileSync(join(d, 'artifacts/refs/stages.d.json'), 'utf8')) as { versions: { key: string }[] };
      editKeepingStat(join(d, 'artifacts/objects', ref.versions.at(-1)!.key, 'outs/d.txt'), 0, 'X');
    },
    want: { ...allFresh, d: 'built' },
    reused: 3,
  },
  're-pointed symlink': {
    change: (d) => {
      unlinkSync(join(d, 'data/d/link'));
      symlinkSync('../../elsewhere/t2.txt', join(d, 'data/d/link'));
    },
    want: { ...allFresh, d: 'built' },
    reused: 3,
  },
  'file the symlink points to': { change: (d) => writeFileSync(join(d, 'elsewhere/t1.txt'), 'TARGET ONE\n'), want: { ...allFresh, d: 'built' }, reused: 3 },
};

describe.skipIf(!treeDigestAvailable())('no-op snapshot', () => {
  const dirs = new Map<string, string>();
  beforeAll(async () => {
    for (const name of ['replay', 'toolchain', 'cache', ...Object.keys(CHANGES)]) dirs.set(name, makeProject());
    for (const dir of dirs.values()) expect(Object.values(await run(dir)).every((a) => a === 'built')).toBe(true);
    const saved = snapshotCounts.saved;
    expect(await run([...dirs.values()].at(-1)!)).toEqual(allFresh);
    expect(snapshotCounts.saved).toBe(saved); // its store files were just written (the racy window): no snapshot
    await new Promise((r) => setTimeout(r, 2100));
    for (const dir of dirs.values()) {
      expect(await run(dir)).toEqual(allFresh); // planned, then saved
      expect(existsSync(snapshotFile(new StoreLayout(dir)))).toBe(true);
    }
    expect(snapshotCounts.saved).toBe(saved + dirs.size);
  }, 60_000);
  afterAll(() => {
    for (const dir of dirs.values()) rmSync(dir, { recursive: true, force: true });
  });

  it('replays the recorded report while nothing changed', async () => {
    const dir = dirs.get('replay')!;
    const replayed = snapshotCounts.replayed;
    const fast = await build({ toolchain: TOOLCHAIN, cwd: dir });
    expect(await build({ toolchain: TOOLCHAIN, cwd: dir })).toEqual(fast);
    expect(snapshotCounts.replayed).toBe(replayed + 2);
    const planned = await build({ toolchain: TOOLCHAIN, cwd: dir, verify: true }); // --verify always plans (and drops it)
    expect(fast).toEqual(planned);
    expect(existsSync(snapshotFile(new StoreLayout(dir)))).toBe(false);
  });

  it.each(Object.keys(CHANGES))('a change (%s) rebuilds exactly what depends on it', async (name) => {
    const dir = dirs.get(name)!;
    CHANGES[name].change(dir);
    const { replayed, reused } = snapshotCounts;
    expect(await run(dir)).toEqual(CHANGES[name].want);
    expect(snapshotCounts.replayed).toBe(replayed);
    expect(snapshotCounts.reused - reused).toBe(CHANGES[name].reused); // the stages nothing changed for: not hashed again
    expect(await run(dir)).toEqual(allFresh);
  });

  it('a build that reused stages keeps their files in the hash cache (not pruned as unseen)', async () => {
    const dir = dirs.get('cache')!;
    writeFileSync(join(dir, 'data/b/x.txt'), 'changed\n');
    const reused = snapshotCounts.reused;
    expect(await run(dir)).toEqual({ ...allFresh, b: 'built', c: 'built' });
    expect(snapshotCounts.reused - reused).toBe(2);
    const cached = new HashCache(new StoreLayout(dir).hashCache).entries().map((e) => e.path);
    expect(cached).toEqual(expect.arrayContaining([join(dir, 'data/a/1.txt'), join(dir, 'data/a/2.txt'), join(dir, 'data/d/link')]));
  });

  it('another toolchain (engine version) plans again', async () => {
    const dir = dirs.get('toolchain')!;
    const replayed = snapshotCounts.replayed;
    const r = await build({ toolchain: { ...TOOLCHAIN, engineVersion: `${TOOLCHAIN.engineVersion}-other` }, cwd: dir });
    expect(snapshotCounts.replayed).toBe(replayed);
    expect(r.stages.map((s) => s.action)).toEqual(['built', 'built', 'built', 'built']);
  });
});

describe.skipIf(!treeDigestAvailable())('no-op snapshot with a kind that resolves external facts', () => {
  let dir = '';
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'peftmake-snapshot-model-'));
    cpSync(join(import.meta.dirname, '..', '..', 'models', 'stories260K'), join(dir, 'models', 'tiny'), { recursive: true });
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', 'x.txt'), 'x\n');
    const stages = { count: { cmd: 'wc -c data/x.txt > count.txt', deps: ['data/x.txt'], outs: ['count.txt'] } };
    writeFileSync(join(dir, 'pipeline.json'), JSON.stringify({ models: { base: { path: 'models/tiny' } }, stages }, null, 2));
    const first = await build({ toolchain: TOOLCHAIN, cwd: dir });
    expect(first.stages.map((s) => s.action)).toEqual(['built', 'built']);
    await new Promise((r) => setTimeout(r, 2100));
    expect((await build({ toolchain: TOOLCHAIN, cwd: dir })).stages.map((s) => s.action)).toEqual(['fresh', 'fresh']);
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps the plans (the model asked to resolve again) but never replays the report whole', async () => {
    const { replayed, reused } = snapshotCounts;
    expect((await build({ toolchain: TOOLCHAIN, cwd: dir })).stages.map((s) => s.action)).toEqual(['fresh', 'fresh']);
    expect(snapshotCounts.replayed).toBe(replayed);
    expect(snapshotCounts.reused - reused).toBe(2);
    writeFileSync(join(dir, 'models', 'tiny', 'generation_config.json'), '{"bos_token_id": 1}\n');
    const r = await build({ toolchain: TOOLCHAIN, cwd: dir });
    expect(r.stages.map((s) => [s.name, s.action])).toEqual([
      ['models.base', 'built'],
      ['stages.count', 'fresh'],
    ]);
    expect(snapshotCounts.reused - reused).toBe(3);
  });
});
