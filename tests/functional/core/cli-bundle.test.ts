// bin/peftmake.js runs the CLI from an esbuild bundle that it rebuilds when a source changes, with the same
// behaviour as the tsx path: same output, paths found relative to the sources (schema validator), lazy chunks.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { CLI, REPO_DIR, TempProject } from '../../helpers/project.ts';

interface Current {
  dir: string;
  inputs: { path: string; size: number; mtimeMs: number }[];
}

describe('the CLI bundle', () => {
  // Inside the repo, like the default one: the bundle's packages resolve from the repo's node_modules.
  mkdirSync(join(REPO_DIR, 'node_modules', '.cache'), { recursive: true });
  const cache = mkdtempSync(join(REPO_DIR, 'node_modules', '.cache', 'peftmake-cli-test-'));
  const project = new TempProject().write('a.txt', 'a\n').pipeline({ stages: { s: { cmd: 'cat a.txt > b.txt', deps: ['a.txt'], outs: ['b.txt'] } } });
  const run = (args: string[], env: Record<string, string>) => execa('node', [CLI, ...args], { cwd: project.dir, env, reject: false });
  const bundled = { PEFTMAKE_CLI_CACHE: cache };
  const sources = { PEFTMAKE_NO_BUNDLE: '1' };
  const current = (): Current => JSON.parse(readFileSync(join(cache, 'current.json'), 'utf8')) as Current;
  afterAll(() => {
    rmSync(cache, { recursive: true, force: true });
    project.cleanup();
  });

  it('is built on first use from the CLI sources, with the heavy stage code in lazily loaded chunks', async () => {
    const r = await run(['validate', '--json'], bundled);
    expect(r.exitCode).toBe(0);
    const cur = current();
    const rel = cur.inputs.map((i) => i.path.slice(REPO_DIR.length + 1));
    expect(rel).toContain('src/cli/main.ts');
    expect(rel).toContain('stages/adapter/adapter-stage.ts');
    const main = readFileSync(join(cache, cur.dir, 'main.js'), 'utf8');
    expect(main).not.toMatch(/function runAdapterStage\b/); // in a chunk imported on first run of an adapter stage
    expect(readdirSync(join(cache, cur.dir)).length).toBeGreaterThan(5);
  });

  it('prints what the tsx path prints, for a valid and an invalid pipeline and for a build', async () => {
    for (const args of [['validate', '--json'], ['status', '--json'], ['--help']]) {
      const [a, b] = [await run(args, bundled), await run(args, sources)];
      expect([a.exitCode, a.stdout, a.stderr]).toEqual([b.exitCode, b.stdout, b.stderr]);
    }
    const built = await run(['build', '--json'], bundled);
    expect(built.exitCode).toBe(0);
    expect(JSON.parse(built.stdout).stages.map((s: { action: string }) => s.action)).toEqual(['built']);
    const noop = await run(['build', '--json'], sources);
    expect(JSON.parse(noop.stdout).stages.map((s: { action: string }) => s.action)).toEqual(['fresh']);
    project.write('pipeline.json', '{"stages": {"s": {"cmd": 1}}}');
    const [a, b] = [await run(['validate'], bundled), await run(['validate'], sources)];
    expect(a.exitCode).toBe(b.exitCode);
    expect(a.exitCode).not.toBe(0);
    expect(a.stderr).toBe(b.stderr);
    expect(a.stderr).toMatch(/pipeline\.json:1 \/stages\/s\/cmd: /);
  });

  it('is reused while its sources are unchanged and rebuilt when one changed', async () => {
    const before = current();
    await run(['--help'], bundled);
    expect(current().dir).toBe(before.dir);
    // A source whose size no longer matches the record (as after an edit): the next start rebuilds.
    const edited = { ...before, inputs: before.inputs.map((i, n) => (n === 0 ? { ...i, size: i.size + 1 } : i)) };
    writeFileSync(join(cache, 'current.json'), JSON.stringify({ ...JSON.parse(readFileSync(join(cache, 'current.json'), 'utf8')), inputs: edited.inputs }));
    const r = await run(['--help'], bundled);
    expect(r.exitCode).toBe(0);
    expect(current().dir).not.toBe(before.dir);
    expect(current().inputs[0]!.size).toBe(before.inputs[0]!.size);
  });
});
