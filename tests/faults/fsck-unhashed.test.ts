// Fault injection, objects committed before file hashes were recorded (manifests without `files`, as an older
// peftmake wrote them). fsck checks what their manifest can still vouch for (the key material hashes to the key; a
// captured workspace output matches its recorded sha256): --repair records the hashes of an object whose every file
// checks out, reports a damaged one, and names the rebuild for one with files nothing records (old code: all three
// were "without recorded hashes", the damaged one included, and --repair changed nothing).
import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { World, actions, currentKeys, peftmake, storeContent } from './harness.ts';

const manifestOf = (w: World, key: string) => join(w.dir, 'artifacts', 'objects', key, 'manifest.json');

/** Rewrites a manifest as an older peftmake wrote it: no per-file hashes. */
function dropFileHashes(file: string): void {
  const { files: _files, ...old } = JSON.parse(readFileSync(file, 'utf8'));
  writeFileSync(file, `${JSON.stringify(old, null, 2)}\n`);
}

describe('fsck of objects without file hashes', () => {
  let w: World;
  let keys: Record<string, string>;
  let golden: ReturnType<typeof storeContent>;
  beforeAll(async () => {
    w = new World({
      models: { base: { path: 'models/tiny' } },
      datasets: { notes: { model: 'base', source: { files: ['notes/*.md'] }, format: 'text', seqLen: 32, split: { valid: 0.2, seed: 1 } } },
      stages: {
        copy: { cmd: 'cat notes/n0.md > copy.txt; cat notes/n1.md > other.txt', deps: ['notes/n0.md', 'notes/n1.md'], outs: ['copy.txt', 'other.txt'] },
      },
    });
    expect((await peftmake(w.dir, ['build'])).code).toBe(0);
    keys = currentKeys(w.dir);
    golden = storeContent(w.dir);
    for (const k of Object.values(keys)) dropFileHashes(manifestOf(w, k));
  }, 60_000);
  afterAll(() => w?.cleanup());

  it('lists each with what it can and cannot check; a damaged output is damage, not "unverified"', async () => {
    const other = join(w.dir, 'artifacts', 'objects', keys['stages.copy'], 'outs', 'other.txt');
    const fd = openSync(other, 'r+');
    writeSync(fd, 'X', 0);
    closeSync(fd);
    // the plan sees it too (old code: fresh, and the damaged output was restored into the workspace)
    const st = await peftmake(w.dir, ['status', '--json']);
    const copy = st.json!.stages.find((x) => x.name === 'stages.copy') as unknown as { action: string; reasons: { type: string }[] };
    expect([copy.action, copy.reasons[0].type]).toEqual(['built', 'artifact-corrupt']);
    const r = await peftmake(w.dir, ['fsck']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      `damaged: object ${keys['stages.copy'].slice(0, 12)} (stages.copy v1): ${other}: content differs from the output hash recorded at commit`,
    );
    expect(r.stdout).toMatch(
      new RegExp(
        `unverified: object ${keys['datasets.notes'].slice(0, 12)} \\(datasets\\.notes v1\\): unverifiable: committed by an older peftmake without file hashes, and 6 of its files \\(prompt\\.json, samples\\.txt, stats\\.json, \\.\\.\\.\\) match no record\\n` +
          '  fix: `peftmake fsck --repair --rebuild-unverified` removes it; the next build that needs it rebuilds it from its inputs',
      ),
    );
    // the damaged one rebuilt: its new object carries file hashes
    expect((await peftmake(w.dir, ['fsck', '--repair'])).code).toBe(0);
    const b = await peftmake(w.dir, ['build', '--json']);
    expect(actions(b)['stages.copy']).toBe('built');
    expect(JSON.parse(readFileSync(manifestOf(w, keys['stages.copy']), 'utf8')).files.map((f: { path: string }) => f.path)).toEqual([
      'outs/copy.txt',
      'outs/other.txt',
    ]);
  });

  it('--repair records the hashes of an object whose every file checks out; --rebuild-unverified rebuilds the rest', async () => {
    dropFileHashes(manifestOf(w, keys['stages.copy']));
    const model = keys['models.base'];
    const r = await peftmake(w.dir, ['fsck']);
    expect(r.stdout).toContain(
      `unverified: object ${keys['stages.copy'].slice(0, 12)} (stages.copy v1): committed without file hashes; every file matches what its manifest recorded at commit\n` +
        '  fix: `peftmake fsck --repair` records the file hashes',
    );
    expect(r.code).toBe(0); // usable: reported, not a failure
    const fixed = await peftmake(w.dir, ['fsck', '--repair']);
    expect(fixed.stdout).toContain(`repaired: object ${keys['stages.copy'].slice(0, 12)} (stages.copy v1): file hashes recorded`);
    const m = JSON.parse(readFileSync(manifestOf(w, keys['stages.copy']), 'utf8'));
    expect(m.files.map((f: { path: string }) => f.path)).toEqual(['outs/copy.txt', 'outs/other.txt']);
    expect(fixed.stdout).toContain(`unverified: object ${keys['datasets.notes'].slice(0, 12)}`);
    expect(fixed.stdout).toContain(`unverified: object ${model.slice(0, 12)}`);

    const all = await peftmake(w.dir, ['fsck', '--repair', '--rebuild-unverified']);
    expect(all.stdout).toContain(
      `repaired: object ${keys['datasets.notes'].slice(0, 12)} (datasets.notes v1): removed; the next build that needs it rebuilds it`,
    );
    const b = await peftmake(w.dir, ['build', '--json']);
    expect(b.code, b.stderr).toBe(0);
    expect(actions(b)).toMatchObject({ 'models.base': 'built', 'datasets.notes': 'built', 'stages.copy': 'fresh' });
    expect(currentKeys(w.dir)).toEqual(keys);
    expect(storeContent(w.dir)).toEqual(golden);
    const clean = await peftmake(w.dir, ['fsck']);
    expect(clean.code).toBe(0);
    expect(clean.stdout).toBe('3 object(s): 3 intact; 0 problem(s) left');
  });
});
