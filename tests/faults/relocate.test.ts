// Fault injection, relocation: a copied project and a moved project are fresh where their inputs are the same and
// read their own files: no artifact names an absolute path of the original, editing the original's model does not
// change what the copy computes, and moving the original breaks nothing.
import { closeSync, cpSync, openSync, readdirSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NO_ADDON, World, actions, adapterPipeline, peftmake, storeContent, treeHashes } from './harness.ts';

const pipeline = adapterPipeline({ compositions: { assistant: { base: 'base', adapters: [{ name: 'domain' }] } } });

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

async function perplexity(dir: string): Promise<number> {
  const r = await peftmake(dir, ['score', '--composition', 'assistant', '--text', 'Once upon a time a little cat went to the park', '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout).perplexity;
}

describe.skipIf(NO_ADDON !== '')(`relocatable projects${NO_ADDON ? ` (skipped: ${NO_ADDON})` : ''}`, () => {
  let w: World;
  afterAll(() => w?.cleanup());

  it('a copy is fresh and self-contained; the original moved or edited changes nothing in it', async () => {
    w = new World(pipeline);
    const outside = treeHashes(w.outside);
    expect((await peftmake(w.dir, ['build'])).code).toBe(0);
    const content = storeContent(w.dir);
    const copy = join(w.root, 'copy');
    cpSync(w.dir, copy, { recursive: true });

    const again = await peftmake(copy, ['build', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(
      Object.values(actions(again)).every((a) => a === 'fresh'),
      JSON.stringify(actions(again)),
    ).toBe(true);
    const leaks = filesUnder(join(copy, 'artifacts', 'objects')).filter((f) => readFileSync(f).includes(w.dir));
    expect(leaks, 'artifacts naming the original project').toEqual([]);
    const ppl = await perplexity(copy);

    // Move the original: it stays fresh and computes the same; then damage its model: the copy does not notice.
    const moved = join(w.root, 'moved');
    renameSync(w.dir, moved);
    const m = await peftmake(moved, ['build', '--json']);
    expect(
      Object.values(actions(m)).every((a) => a === 'fresh'),
      JSON.stringify(actions(m)),
    ).toBe(true);
    expect(await perplexity(moved)).toBe(ppl);
    const weights = join(moved, 'models', 'tiny', 'model.safetensors');
    const fd = openSync(weights, 'r+');
    writeSync(fd, Buffer.alloc(4096, 0x3f), 0, 4096, statSync(weights).size - 8192);
    closeSync(fd);
    expect(await perplexity(copy)).toBe(ppl);
    const st = await peftmake(copy, ['status', '--json']);
    expect(Object.values(actions(st)).every((a) => a === 'fresh')).toBe(true);
    expect(storeContent(copy)).toEqual(content);
    expect(treeHashes(w.outside)).toEqual(outside);
  });
});
