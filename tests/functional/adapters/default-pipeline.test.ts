// The root pipeline.json runs end to end in a temp copy of the project (README, docs, data, models) with reduced step
// counts: every stage builds, the eval table has the base / adapters / composition rows, the second build is a no-op.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const BIN = join(ROOT, 'bin', 'peftmake.js');
const skip = existsSync(join(ROOT, 'native', 'build', 'Release', 'peft_engine.node')) ? '' : 'native addon not built (npm run build:native)';

describe.skipIf(skip !== '')(`default pipeline${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'peftmake-default-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('builds every stage with reduced steps, prints the eval table, then is a no-op', () => {
    for (const p of ['README.md', 'docs', 'data', 'models', 'schema']) cpSync(join(ROOT, p), join(dir, p), { recursive: true });
    const p = JSON.parse(readFileSync(join(ROOT, 'pipeline.json'), 'utf8'));
    expect(Object.keys(p.adapters)).toEqual(['domain', 'task']);
    expect(p.adapters.task.on).toEqual(['domain']);
    for (const a of Object.values(p.adapters) as Record<string, unknown>[]) Object.assign(a, { maxSteps: 4, evalEvery: 2, checkpointEvery: 2 });
    for (const e of Object.values(p.evals) as Record<string, unknown>[]) Object.assign(e, { maxExamples: 3, maxNewTokens: 4 });
    writeFileSync(join(dir, 'pipeline.json'), JSON.stringify(p, null, 2));
    const cli = (...args: string[]) => execFileSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const first = JSON.parse(cli('build', '--json')) as { ok: boolean; stages: { name: string; action: string; key: string }[] };
    expect(first.ok).toBe(true);
    expect(first.stages.map((s) => `${s.name}:${s.action}`)).toEqual([
      'models.base:built',
      'datasets.docs:built',
      'datasets.qa:built',
      'adapters.domain:built',
      'adapters.task:built',
      'compositions.assistant:built',
      'evals.report:built',
    ]);
    const ev = first.stages.find((s) => s.name === 'evals.report')!;
    const table = readFileSync(join(dir, 'artifacts', 'objects', ev.key, 'table.md'), 'utf8');
    expect(table).toMatch(/^\| model +\| +docs ppl \| +qa ppl \| +qa EM \| +qa F1 \|$/m);
    for (const row of ['base', '\\+ domain', '\\+ task', 'assistant \\(composition\\)']) expect(table).toMatch(new RegExp(`^\\| ${row} `, 'm'));
    const second = JSON.parse(cli('build', '--json')) as { ok: boolean; stages: { action: string }[] };
    expect(second.stages.every((s) => s.action === 'fresh')).toBe(true);
  });
});
