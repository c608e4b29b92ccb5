// Fault injection, the stat-keyed hash cache: a file rewritten with its size and mtime put back (`touch -d`, utimes)
// keeps its inode, size and mtime, but not its ctime. An input, a workspace output and a committed file edited that
// way must not be reported fresh from a stale cached hash (old code: all three said fresh).
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { World, actions, currentKeys, peftmake } from './harness.ts';

/** Rewrites one byte in place, then puts the mtime back: size, inode and mtime are what they were. */
function editKeepingStat(file: string, at: number, byte: string): void {
  const st = statSync(file, { bigint: true });
  const ref = `${file}.stamp`;
  execFileSync('touch', ['-r', file, ref]); // the timestamps to the nanosecond (utimes from JS rounds them)
  const fd = openSync(file, 'r+');
  writeSync(fd, byte, at);
  closeSync(fd);
  execFileSync('touch', ['-r', ref, file]);
  rmSync(ref);
  const after = statSync(file, { bigint: true });
  expect([after.size, after.ino, after.mtimeNs]).toEqual([st.size, st.ino, st.mtimeNs]);
}

type Stage = { name: string; action: string; reasons: { type: string; path?: string; problem?: string }[] };
const stage = async (dir: string): Promise<Stage> => (await peftmake(dir, ['status', '--json'])).json!.stages[0] as unknown as Stage;

describe('hash cache', () => {
  let w: World;
  beforeAll(async () => {
    w = new World({ stages: { copy: { cmd: 'cat in.txt > out.txt', deps: ['in.txt'], outs: ['out.txt'] } } });
    writeFileSync(w.path('in.txt'), 'hello world\n');
    expect((await peftmake(w.dir, ['build'])).code).toBe(0);
    await new Promise((r) => setTimeout(r, 2100)); // past the racy window: the next look caches every hash
    expect((await stage(w.dir)).action).toBe('fresh');
  }, 60_000);
  afterAll(() => w?.cleanup());

  it('an input rewritten with its size and mtime put back is seen as changed, and the build uses the new bytes', async () => {
    editKeepingStat(w.path('in.txt'), 4, 'O');
    const s = await stage(w.dir);
    expect(s.action).toBe('built');
    expect(s.reasons.map((r) => `${r.type} ${r.path ?? ''}`)).toContain('dep-modified in.txt');
    const b = await peftmake(w.dir, ['build', '--json']);
    expect(actions(b)['stages.copy']).toBe('built');
    expect(readFileSync(w.path('out.txt'), 'utf8')).toBe('hellO world\n');
  });

  it('a workspace output and a committed file edited that way are restored / rebuilt, never fresh', async () => {
    await new Promise((r) => setTimeout(r, 2100));
    expect((await stage(w.dir)).action).toBe('fresh'); // every hash cached again
    editKeepingStat(w.path('out.txt'), 0, 'j');
    const s = await stage(w.dir);
    expect(s.action).toBe('restored');
    expect(s.reasons).toEqual([{ type: 'output-missing', path: 'out.txt' }]);
    expect((await peftmake(w.dir, ['build'])).code).toBe(0);
    expect(readFileSync(w.path('out.txt'), 'utf8')).toBe('hellO world\n');

    await new Promise((r) => setTimeout(r, 2100));
    expect((await stage(w.dir)).action).toBe('fresh');
    const committed = join(w.dir, 'artifacts', 'objects', currentKeys(w.dir)['stages.copy'], 'outs', 'out.txt');
    editKeepingStat(committed, 0, 'j');
    const c = await stage(w.dir);
    expect(c.action).toBe('built');
    expect(c.reasons[0].type).toBe('artifact-corrupt');
    expect(c.reasons[0].problem).toContain('out.txt: content differs from the sha256 recorded at commit');
    expect((await peftmake(w.dir, ['build'])).code).toBe(0);
    expect(readFileSync(committed, 'utf8')).toBe('hellO world\n');
  });
});
