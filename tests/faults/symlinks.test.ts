// Fault injection, symlinks out of the project: an output through a symlinked folder is never deleted or written,
// and an input that is a symlink to a file outside is refused with the path and the fix; nothing outside changes.
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { World, peftmake, treeHashes } from './harness.ts';

let w: World | undefined;
afterEach(() => w?.cleanup());

function world(stages: Record<string, unknown>): World {
  w = new World({ stages });
  mkdirSync(join(w.outside, 'dir'));
  writeFileSync(join(w.outside, 'dir', 'victim.txt'), 'precious\n');
  return w;
}

describe('symlinks out of the project', () => {
  it('an output through a symlinked folder: refused before anything is deleted or written', async () => {
    world({ out: { cmd: 'mkdir -p out && echo overwritten > out/victim.txt', outs: ['out/victim.txt'] } });
    symlinkSync(join(w!.outside, 'dir'), w!.path('out'));
    const before = treeHashes(w!.outside);
    const r = await peftmake(w!.dir, ['build', '--json']);
    expect(r.code).toBe(1);
    const s = r.json!.stages[0];
    expect(s.action).toBe('failed');
    expect(s.error).toBe(
      `stages.out: output "out/victim.txt" resolves through a symlink to ${join(w!.outside, 'dir', 'victim.txt')}, outside the project; nothing was deleted or written there`,
    );
    expect(treeHashes(w!.outside)).toEqual(before);
  });

  it('an input that is a symlink to a file outside: refused, naming it and the fix', async () => {
    world({ read: { cmd: 'cat data.txt > copy.txt', deps: ['data.txt'], outs: ['copy.txt'] } });
    symlinkSync(join(w!.outside, 'dir', 'victim.txt'), w!.path('data.txt'));
    const before = treeHashes(w!.outside);
    const r = await peftmake(w!.dir, ['build']);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toContain(
      `stages.read: input "data.txt" is a symlink to ${join(w!.outside, 'dir', 'victim.txt')}, outside the project; it was not read`,
    );
    expect(existsSync(w!.path('copy.txt'))).toBe(false);
    expect(treeHashes(w!.outside)).toEqual(before);
  });

  it('a dataset source glob matching a symlink out of the project: refused', async () => {
    w = new World();
    symlinkSync(join(w.outside, 'keep.txt'), w.path('notes/zz-outside.md'));
    const r = await peftmake(w.dir, ['build', '--json', 'datasets.notes']);
    expect(r.code).toBe(1);
    const s = r.json!.stages.find((x) => x.name === 'datasets.notes')!;
    expect(s.error).toBe(`datasets.notes: input "notes/zz-outside.md" is a symlink to ${join(w.outside, 'keep.txt')}, outside the project; it was not read`);
  });

  it('a symlink that stays inside the project is fine', async () => {
    world({ read: { cmd: 'cat data.txt > copy.txt', deps: ['data.txt'], outs: ['copy.txt'] } });
    writeFileSync(w!.path('real.txt'), 'inside\n');
    symlinkSync(w!.path('real.txt'), w!.path('data.txt'));
    const r = await peftmake(w!.dir, ['build']);
    expect(r.code, r.stderr).toBe(0);
  });
});
