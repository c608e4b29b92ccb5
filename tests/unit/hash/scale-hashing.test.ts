// Hashing at scale: big files hashed on worker threads and any files on the addon's threads give the single-thread
// hashes (and a read error names its code), many files through the batched stat path give the same records, and the folder-level symlink check of a
// directory walk refuses exactly what the per-file check refused.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hashFilesCached, sha256File } from '../../../src/hash/file-hash.ts';
import { sha256Parallel } from '../../../src/hash/hash-pool.ts';
import { nativeHashAvailable, sha256Native } from '../../../src/hash/native-hash.ts';
import { HashCache } from '../../../src/hash/hash-cache.ts';
import { expandInputs } from '../../../src/hash/expand.ts';

const root = mkdtempSync(join(tmpdir(), 'peftmake-scale-hash-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('hashing many and big files', () => {
  it('worker threads hash each file as the main thread does, in order, and pass a read error on', async () => {
    const files = [0, 1, 2, 3, 4].map((i) => {
      const f = join(root, `w${i}.bin`);
      writeFileSync(f, Buffer.alloc(100_000 + i * 70_001, i + 1));
      return f;
    });
    const want = await Promise.all(files.map((f) => sha256File(f)));
    expect(await sha256Parallel(files, 2)).toEqual(want);
    await expect(sha256Parallel([files[0], join(root, 'gone.bin')], 2)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it.skipIf(!nativeHashAvailable())('the addon hashes files on its threads as the main thread does, in order, and words a read error as fs does', async () => {
    mkdirSync(join(root, 'native'), { recursive: true });
    // Sizes around the 1 MiB read chunk, an empty file, and many more files than threads.
    const sizes = [0, 1, 55, 64, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) - 7, ...Array.from({ length: 60 }, (_, i) => 100 + i * 37)];
    const files = sizes.map((n, i) => {
      const f = join(root, 'native', `n${i}.bin`);
      const b = Buffer.alloc(n);
      for (let k = 0; k < n; k++) b[k] = (k * 131 + i) & 255;
      writeFileSync(f, b);
      return f;
    });
    const want = await Promise.all(files.map((f) => sha256File(f)));
    for (const threads of [1, 2, 3]) expect(await sha256Native(files, threads)).toEqual(want);
    const gone = join(root, 'native', 'gone.bin');
    await expect(sha256Native([files[0], gone, join(root, 'native')], 2)).rejects.toMatchObject({ code: 'ENOENT', syscall: 'open', path: gone });
    await expect(sha256File(gone)).rejects.toMatchObject({ code: 'ENOENT', syscall: 'open', path: gone });
    await expect(sha256Native([join(root, 'native')], 1)).rejects.toMatchObject({ code: 'EISDIR', syscall: 'read' });
    expect(await sha256Native([])).toEqual([]);
  });

  it('the batched path: stat all, read only misses, the same records on a warm cache', async () => {
    const files = Array.from({ length: 50 }, (_, i) => {
      const f = join(root, 'many', `f${i}.txt`);
      mkdirSync(join(root, 'many'), { recursive: true });
      writeFileSync(f, `file ${i}\n`);
      return f;
    });
    const cache = new HashCache();
    const cold = await hashFilesCached(files, cache);
    expect(cold[7]).toEqual({ sha256: await sha256File(files[7]), size: 7 });
    expect(await hashFilesCached(files, cache)).toEqual(cold);
  });
});

describe('walked inputs and symlinks', () => {
  it('a declared folder that is a symlink out of the project, or a link to a folder outside inside it: refused', async () => {
    const project = join(root, 'project');
    const outside = join(root, 'outside');
    mkdirSync(join(outside, 'sub'), { recursive: true });
    writeFileSync(join(outside, 'sub', 'x.txt'), 'x');
    mkdirSync(join(project, 'data', 'real'), { recursive: true });
    writeFileSync(join(project, 'data', 'real', 'a.txt'), 'a');
    symlinkSync(join(outside, 'sub'), join(project, 'linked'));
    expect(await expandInputs('s', project, ['data'])).toEqual([join(project, 'data', 'real', 'a.txt')]);
    await expect(expandInputs('s', project, ['linked'])).rejects.toThrow(/input "linked\/x.txt" is a symlink to .*outside\/sub\/x.txt, outside the project/);
    symlinkSync(join(outside, 'sub'), join(project, 'data', 'out'));
    await expect(expandInputs('s', project, ['data'])).rejects.toThrow(/input "data\/out" is a symlink to .*outside\/sub, outside the project/);
  });
});
