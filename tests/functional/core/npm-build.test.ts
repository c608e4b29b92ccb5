// `npm run build` builds the pipeline, as a user of a make-like tool expects (`npm run peftmake -- build` does the same).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');

describe('npm run build', () => {
  const dir = mkdtempSync(join(tmpdir(), 'peftmake-npm-build-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs `peftmake build` with the arguments after --', () => {
    writeFileSync(join(dir, 'pipeline.json'), JSON.stringify({ stages: { hello: { cmd: 'echo built > hello.txt', outs: ['hello.txt'] } } }));
    const out = execFileSync('npm', ['run', '--silent', 'build', '--', '-f', join(dir, 'pipeline.json'), '--json'], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const report = JSON.parse(out) as { ok: boolean; stages: { name: string; action: string }[] };
    expect(report.ok).toBe(true);
    expect(report.stages).toMatchObject([{ name: 'stages.hello', action: 'built' }]);
    expect(readFileSync(join(dir, 'hello.txt'), 'utf8')).toBe('built\n');
  });
});
