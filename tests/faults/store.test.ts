// Fault injection, the store: committed files of each kind corrupted, truncated or deleted. `status` and `build` must
// see it (never report fresh), the build rebuilds it byte-identical to what was committed, rollback refuses a damaged
// version, `build --verify` finds what the cheap check cannot, and `fsck` lists and repairs.
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_ADDON, World, actions, adapterPipeline, currentKeys, peftmake, storeContent, treeHashes } from './harness.ts';
import { HashCache, stampOf } from '../../src/hash/hash-cache.ts';

const pipeline = adapterPipeline({ compositions: { assistant: { base: 'base', adapters: [{ name: 'domain' }] } } });

/** Overwrites bytes in the middle of a file (same size): what a bad disk or a stray write does. */
function scribble(file: string): void {
  const size = statSync(file).size;
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.alloc(16, 0x42), 0, 16, Math.max(0, size - 64));
  closeSync(fd);
}

describe.skipIf(NO_ADDON !== '')(`verified store${NO_ADDON ? ` (skipped: ${NO_ADDON})` : ''}`, () => {
  let w: World;
  let golden: ReturnType<typeof storeContent>;
  let keys: Record<string, string>;
  let outside: Record<string, string>;
  const obj = (stage: string, file = '') => join(w.dir, 'artifacts', 'objects', keys[stage], file);

  beforeAll(async () => {
    w = new World(pipeline);
    outside = treeHashes(w.outside);
    const r = await peftmake(w.dir, ['build', '--json']);
    expect(r.code, r.stderr).toBe(0);
    golden = storeContent(w.dir);
    keys = currentKeys(w.dir);
  }, 120_000);
  afterAll(() => w?.cleanup());

  /** status names the damage, build rebuilds exactly that stage, and the store is back to what was committed. */
  async function detectedAndRebuilt(stage: string, fileHint: string, args: string[] = []): Promise<void> {
    const st = await peftmake(w.dir, ['status', '--json', ...args]);
    const s = st.json!.stages.find((x) => x.name === stage) as unknown as { action: string; reasons: { type: string; problem: string }[] };
    expect(s.action).toBe('built');
    expect(s.reasons[0].type).toBe('artifact-corrupt');
    expect(s.reasons[0].problem).toContain(fileHint);
    const b = await peftmake(w.dir, ['build', '--json', ...args]);
    expect(b.code, b.stderr).toBe(0);
    expect(actions(b)[stage]).toBe('built');
    for (const [n, a] of Object.entries(actions(b))) if (n !== stage) expect(a, n).toBe('fresh');
    expect(currentKeys(w.dir)).toEqual(keys);
    expect(storeContent(w.dir)).toEqual(golden);
    expect(treeHashes(w.outside)).toEqual(outside);
  }

  it('adapter weights overwritten in place (same size): detected, rebuilt', async () => {
    scribble(obj('adapters.domain', 'adapter_model.safetensors'));
    await detectedAndRebuilt('adapters.domain', 'adapter_model.safetensors: content differs from the sha256 recorded at commit');
  });

  it('a truncated manifest: detected, rebuilt (never "fresh" here and "missing" in diff)', async () => {
    truncateSync(obj('datasets.notes', 'manifest.json'), 40);
    await detectedAndRebuilt('datasets.notes', 'manifest.json is missing or not valid JSON');
  });

  it('a deleted dataset file: detected, rebuilt', async () => {
    rmSync(obj('datasets.notes', 'train.jsonl'));
    await detectedAndRebuilt('datasets.notes', 'train.jsonl: missing');
  });

  it('a truncated model pointer: detected, rebuilt', async () => {
    truncateSync(obj('models.base', 'model.json'), 3);
    await detectedAndRebuilt('models.base', 'model.json: 3 bytes, the manifest records');
  });

  it('a corrupted composition file: detected, rebuilt; score refuses a damaged object meanwhile', async () => {
    scribble(obj('compositions.assistant', 'composition.json'));
    const s = await peftmake(w.dir, ['score', '--composition', 'assistant', '--text', 'Once upon a time']);
    expect(s.code).toBe(1);
    expect(s.stderr).toContain('error[E_STORE]: compositions.assistant v1 is corrupt in the store:');
    expect(s.stderr).toContain('composition.json: content differs from the sha256 recorded at commit');
    expect(s.stderr).toContain('hint: run `peftmake build` to rebuild it; `peftmake fsck` lists every damaged object');
    await detectedAndRebuilt('compositions.assistant', 'composition.json');
  });

  it('bytes changed under an unchanged stamp (bit rot): the cheap check cannot tell, --verify re-reads every byte and finds it', async () => {
    const f = obj('datasets.notes', 'valid.jsonl');
    const committed = createHash('sha256').update(readFileSync(f)).digest('hex');
    scribble(f);
    // A disk that flips bits changes no stamp: the cache entry for the file's stamp still holds the committed hash.
    const cache = new HashCache(join(w.dir, 'artifacts', 'cache', 'file-hashes.bin'), { now: () => Date.now() + 10_000 });
    cache.set(f, stampOf(statSync(f)), committed);
    cache.save();
    const cheap = await peftmake(w.dir, ['status', '--json']);
    expect(cheap.json!.stages.find((x) => x.name === 'datasets.notes')!.action).toBe('fresh'); // the documented limit
    await detectedAndRebuilt('datasets.notes', 'valid.jsonl: content differs', ['--verify']);
  });

  it('rollback onto a damaged version refuses, naming the file and the fix', async () => {
    w.pipeline(
      adapterPipeline({
        compositions: { assistant: { base: 'base', adapters: [{ name: 'domain' }] } },
        adapters: { domain: { ...(pipeline.adapters as { domain: object }).domain, lr: 0.002 } },
      }),
    );
    expect((await peftmake(w.dir, ['build'])).code).toBe(0);
    scribble(obj('adapters.domain', 'adapter_model.safetensors')); // v1's weights
    const r = await peftmake(w.dir, ['rollback', 'adapters.domain', 'v1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error\[E_STORE\]: adapters\.domain v1 is corrupt in the store: \S+adapter_model\.safetensors: content differs/);
    expect(r.stderr).toContain('hint: it cannot be rolled back to; pick another version (`peftmake log adapters.domain`)');
    expect(JSON.parse(readFileSync(join(w.dir, 'artifacts/refs/adapters.domain.json'), 'utf8')).current).toBe(2);
  });

  it('fsck lists the damage with its fix; --repair removes it; the next build restores the committed bytes', async () => {
    const bad = await peftmake(w.dir, ['fsck']);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(
      new RegExp(`damaged: object ${keys['adapters.domain'].slice(0, 12)} \\(adapters\\.domain v1\\): \\S+adapter_model\\.safetensors: content differs`),
    );
    expect(bad.stdout).toContain('fix: removed by `peftmake fsck --repair`; the next build rebuilds it');
    const fixed = await peftmake(w.dir, ['fsck', '--repair']);
    expect(fixed.code).toBe(0);
    expect((await peftmake(w.dir, ['fsck'])).code).toBe(0);
    w.pipeline(pipeline);
    const b = await peftmake(w.dir, ['build', '--json']);
    expect(actions(b)['adapters.domain']).toBe('built');
    expect(storeContent(w.dir)).toEqual(golden);
    expect(treeHashes(w.outside)).toEqual(outside);
  });
});
