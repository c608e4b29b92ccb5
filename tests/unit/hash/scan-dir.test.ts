// The build core's folder scans (the peft_fs addon) and the no-op short cuts around them: a scan's stamps equal
// statSync's bit for bit, expansion gives the same files with and without the addon, the hash cache's key text is
// canonical JSON, and a file changed deep in a big tree (same size, mtime put back) is found and its stage rebuilt.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ENTRY_DIR, ENTRY_FILE, ENTRY_LINK, FS_ADDON_PATH, nativeScanDir, stampAt } from '../../../src/hash/scan-dir.ts';
import { stampOf } from '../../../src/hash/hash-cache.ts';
import { expandInputs } from '../../../src/hash/expand.ts';
import { canonicalJson, keyOfMaterial, sha256Hex } from '../../../src/hash/canonical-json.ts';
import { build, statusOf } from '../../../src/exec/build.ts';
import { TOOLCHAIN } from '../../../src/cli/toolchain.ts';

const root = mkdtempSync(join(tmpdir(), 'peftmake-scan-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const noAddon = nativeScanDir() ? undefined : `the peft_fs addon is not built (${FS_ADDON_PATH}; npm run build:native)`;

/** Runs `fn` with the addon turned off (the readdir / stat walk). */
async function withoutAddon<T>(fn: () => Promise<T>): Promise<T> {
  process.env.PEFTMAKE_NO_FS_ADDON = '1';
  try {
    return await fn();
  } finally {
    delete process.env.PEFTMAKE_NO_FS_ADDON;
  }
}

describe.skipIf(noAddon)('peft_fs scanDir', () => {
  it('lists a folder with kinds, and stamps equal to statSync (links followed; a dangling link has none)', () => {
    const d = join(root, 'scan');
    mkdirSync(join(d, 'sub'), { recursive: true });
    writeFileSync(join(d, 'a.txt'), 'hello');
    writeFileSync(join(d, 'b.bin'), Buffer.alloc(70_000, 7));
    symlinkSync(join(d, 'a.txt'), join(d, 'link'));
    symlinkSync(join(d, 'nowhere'), join(d, 'dangling'));
    const r = nativeScanDir()!(d)!;
    const by = new Map(r.names.map((n, i) => [n, i]));
    expect([...by.keys()].sort()).toEqual(['a.txt', 'b.bin', 'dangling', 'link', 'sub']);
    expect(r.kinds[by.get('a.txt')!]).toBe(ENTRY_FILE);
    expect(r.kinds[by.get('sub')!]).toBe(ENTRY_DIR);
    expect(r.kinds[by.get('link')!]).toBe(ENTRY_LINK);
    for (const n of ['a.txt', 'b.bin']) expect(stampAt(r, by.get(n)!)).toEqual(stampOf(statSync(join(d, n))));
    expect(stampAt(r, by.get('link')!)).toEqual(stampOf(statSync(join(d, 'a.txt'))));
    expect(stampAt(r, by.get('dangling')!)).toBeUndefined();
    expect(nativeScanDir()!(join(d, 'missing'))).toBeNull();
    expect(nativeScanDir()!(join(d, 'a.txt'))).toBeNull();
  });

  it('expansion gives the same files and stamps with and without the addon', async () => {
    const d = join(root, 'expand');
    for (let i = 0; i < 30; i++) {
      mkdirSync(join(d, 'data', `g${i % 3}`, `h${i % 5}`), { recursive: true });
      writeFileSync(join(d, 'data', `g${i % 3}`, `h${i % 5}`, `f${i}.txt`), `${i}`);
    }
    mkdirSync(join(d, 'data', 'node_modules'));
    writeFileSync(join(d, 'data', 'node_modules', 'skipped.js'), '');
    mkdirSync(join(d, 'artifacts', 'objects'), { recursive: true });
    writeFileSync(join(d, 'artifacts', 'objects', 'store.txt'), 'the store is never an input');
    writeFileSync(join(d, 'artifactsX.txt'), 'a file beside the store is');
    const stamps = new Map();
    const patterns = ['data', 'data/g1/**/*.txt', '*.txt', '**/store.txt'];
    const native = await expandInputs('s', d, patterns, ['data/g2/h0'], stamps);
    const plain = await withoutAddon(() => expandInputs('s', d, patterns, ['data/g2/h0']));
    expect(native).toEqual(plain);
    expect(native.length).toBe(29);
    expect(native).toContain(join(d, 'artifactsX.txt'));
    expect(native.some((f) => f.includes('node_modules') || f.includes('/g2/h0/') || f.includes('/artifacts/'))).toBe(false);
    for (const f of native) expect(stamps.get(f)).toEqual(stampOf(statSync(f)));
  });
});

describe('stage keys', () => {
  it('keyOfMaterial is sha256 of the canonical JSON, for any path text', () => {
    const m = {
      kind: 'command',
      implVersion: '1',
      config: { cmd: 'x', note: '\u0000 "quoted" \\ ü' },
      inputs: [
        { path: 'a "b".txt', sha256: 'ab'.repeat(32) },
        { path: 'ü/\n/é', sha256: 'cd'.repeat(32) },
      ],
      params: { lr: 0.1 },
      upstream: {},
      resolved: {},
      engineVersion: 'e1',
    };
    expect(keyOfMaterial(m)).toBe(sha256Hex(canonicalJson(m)));
    expect(keyOfMaterial({ ...m, inputs: [] })).toBe(sha256Hex(canonicalJson({ ...m, inputs: [] })));
  });
});

describe('a no-op build over a big tree finds one changed file', () => {
  /** Rewrites one byte in place and puts size and mtime back (`touch -r`): only the ctime tells. */
  function editKeepingStat(file: string): void {
    execFileSync('touch', ['-r', file, `${file}.stamp`]);
    const fd = openSync(file, 'r+');
    writeSync(fd, 'Z', 0);
    closeSync(fd);
    execFileSync('touch', ['-r', `${file}.stamp`, file]);
    unlinkSync(`${file}.stamp`);
  }

  for (const mode of ['addon', 'no addon'] as const) {
    it.skipIf(mode === 'addon' && noAddon)(
      `${mode}: 1,200 files in nested folders, 12 stages`,
      async () => {
        const run = <T>(fn: () => Promise<T>): Promise<T> => (mode === 'addon' ? fn() : withoutAddon(fn));
        const d = join(root, `tree-${mode.replace(' ', '-')}`);
        const stages: Record<string, unknown> = {};
        for (let s = 0; s < 12; s++) {
          for (let f = 0; f < 100; f++) {
            const sub = join(d, 'data', `s${s}`, `a${f % 4}`, `b${f % 5}`);
            mkdirSync(sub, { recursive: true });
            writeFileSync(join(sub, `f${f}.txt`), `stage ${s} file ${f}\n`);
          }
          stages[`s${s}`] = { cmd: `find data/s${s} -type f | sort | xargs cat | wc -c > out${s}.txt`, deps: [`data/s${s}`], outs: [`out${s}.txt`] };
        }
        writeFileSync(join(d, 'pipeline.json'), JSON.stringify({ stages }));
        const file = join(d, 'pipeline.json');
        expect((await run(() => build({ toolchain: TOOLCHAIN, file, jobs: 2 }))).ok).toBe(true);
        await new Promise((r) => setTimeout(r, 2100)); // past the racy window: the next look caches every hash
        const actions = async (): Promise<Record<string, string>> =>
          Object.fromEntries((await run(() => statusOf({ toolchain: TOOLCHAIN, file }))).stages.map((s) => [s.name, s.action]));
        await run(() => build({ toolchain: TOOLCHAIN, file })); // caches the hashes
        expect(new Set(Object.values(await actions()))).toEqual(new Set(['fresh']));

        const deep = join(d, 'data', 's7', 'a3', 'b2', 'f87.txt');
        editKeepingStat(deep);
        const st = await run(() => statusOf({ toolchain: TOOLCHAIN, file }));
        const changed = st.stages.filter((s) => s.action !== 'fresh');
        expect(changed.map((s) => [s.name, s.action])).toEqual([['stages.s7', 'built']]);
        expect(changed[0].reasons).toContainEqual({ type: 'dep-modified', path: 'data/s7/a3/b2/f87.txt' });
        const b = await run(() => build({ toolchain: TOOLCHAIN, file }));
        expect(b.stages.filter((s) => s.action === 'built').map((s) => s.name)).toEqual(['stages.s7']);

        // A file added deep, and one removed: found too.
        writeFileSync(join(d, 'data', 's3', 'a1', 'b4', 'new.txt'), 'new\n');
        rmSync(join(d, 'data', 's11', 'a0', 'b0', 'f0.txt'));
        const after = await run(() => statusOf({ toolchain: TOOLCHAIN, file }));
        const moved = after.stages.filter((s) => s.action !== 'fresh');
        expect(moved.map((s) => s.name)).toEqual(['stages.s3', 'stages.s11']);
        expect(moved[0].reasons).toContainEqual({ type: 'dep-added', path: 'data/s3/a1/b4/new.txt' });
        expect(moved[1].reasons).toContainEqual({ type: 'dep-removed', path: 'data/s11/a0/b0/f0.txt' });
      },
      120_000,
    );
  }
});
