// Fault injection, hostile sizes and pipes: a pipeline.json nested thousands of levels deep is a clean parse error
// (no stack overflow), and output piped into a reader that goes away (`peftmake status --json | head -c 10`) ends
// quietly with exit 0.
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { CLI, World, peftmake } from './harness.ts';

let w: World | undefined;
afterEach(() => w?.cleanup());

describe('limits', () => {
  it('a pipeline.json nested 5,000 levels deep: E_CONFIG_PARSE with the line and column, no stack trace', async () => {
    w = new World({ stages: {} });
    writeFileSync(w.path('pipeline.json'), `{"stages":{"a":{"cmd":"true","env":${'{"x":'.repeat(5000)}1${'}'.repeat(5000)}}}}`);
    const r = await peftmake(w.dir, ['status']);
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(/^error\[E_CONFIG_PARSE\]: pipeline\.json:1:\d+: invalid JSON: nesting deeper than 256 levels/);
    expect(r.stderr).not.toContain('internal error');
  });

  it('EPIPE: a reader that stops early ends the output quietly', async () => {
    w = new World({ stages: Object.fromEntries(Array.from({ length: 1500 }, (_, i) => [`s${i}`, { cmd: 'true' }])) });
    const r = await execa('sh', ['-c', `"${process.execPath}" "${CLI}" status --json | head -c 10`], { cwd: w.dir, reject: false });
    expect(r.exitCode).toBe(0);
    expect(String(r.stdout)).toBe('{\n  "ok": t'.slice(0, 10));
    expect(String(r.stderr)).toBe('');
  });
});

describe('init size check', () => {
  it('an init model too large for the disk or memory fails before writing a byte, saying how large', async () => {
    w = new World({ models: { huge: { init: { hiddenSize: 65536, intermediateSize: 262144, numLayers: 32, numHeads: 64, vocabSize: 512, seed: 0 } } } });
    const t0 = Date.now();
    const r = await peftmake(w.dir, ['build', '--json']);
    expect(r.code).toBe(1);
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(r.json!.stages[0].error).toMatch(
      /^init model: the model's weights need 8\d{3}\.\d GB (on disk and \S+ has|of memory to load and this machine has) [\d.]+ GB( free)?; nothing was written$/,
    );
    expect(existsSync(w.path('artifacts/tmp')) ? readdirSync(w.path('artifacts/tmp')) : []).toEqual([]);
  });
});
