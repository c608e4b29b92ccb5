// The real CLI in temp projects: build --json shape, status, exit codes, config errors without stack traces,
// log / diff / rollback (pinned, dependents rebuilt) / unpin / gc.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TempProject } from '../../helpers/project.ts';

let p: TempProject;

beforeAll(() => {
  p = new TempProject();
  p.write('src/in.txt', 'one\n');
  p.pipeline({
    stages: {
      up: { cmd: 'tr a-z A-Z < src/in.txt > up.txt', deps: ['src/in.txt'], outs: ['up.txt'] },
      twice: { cmd: 'cat up.txt up.txt > twice.txt', deps: ['up.txt'], outs: ['twice.txt'] },
    },
  });
});
afterAll(() => p.cleanup());

describe('peftmake CLI', () => {
  it('build --json prints one JSON object with the documented shape', async () => {
    const r = await p.cli(['build', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(Object.keys(out)).toEqual(['ok', 'stages']);
    expect(out.ok).toBe(true);
    expect(out.stages.map((s: Record<string, unknown>) => Object.keys(s).slice(0, 7))).toEqual([
      ['name', 'kind', 'action', 'version', 'key', 'reasons', 'seconds'],
      ['name', 'kind', 'action', 'version', 'key', 'reasons', 'seconds'],
    ]);
    expect(out.stages[0]).toMatchObject({ name: 'stages.up', kind: 'command', action: 'built', version: 1, reasons: [{ type: 'no-record' }] });
    expect(out.stages[0].key).toMatch(/^[0-9a-f]{64}$/);
    expect(typeof out.stages[0].seconds).toBe('number');
  });

  it('status --json shows what a build would do and changes nothing', async () => {
    p.write('src/in.txt', 'two\n');
    const r = await p.cli(['status', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.stages.map((s: { action: string }) => s.action)).toEqual(['built', 'built']);
    expect(out.stages[0].reasons).toEqual([{ type: 'dep-modified', path: 'src/in.txt' }]);
    expect(out.stages[0].version).toBe(2);
    expect(p.read('up.txt')).toBe('ONE\n');
    const human = await p.cli(['build']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/✓ stages\.up {2}built {2}v2 {2}[\d.]+s {2}\(dep-modified src\/in\.txt\)/);
    expect(human.stdout).toContain('ok: 2 built');
  });

  it('log lists versions; diff shows input and output changes', async () => {
    const log = await p.cli(['log', 'stages.up']);
    expect(log.stdout.split('\n')[0]).toBe('stages.up: current v2');
    expect(log.stdout).toMatch(/\* v2 .* built .*\(dep-modified src\/in\.txt\)/);
    const diff = await p.cli(['diff', 'stages.up', 'v1', 'v2', '--json']);
    const d = JSON.parse(diff.stdout);
    expect(d.inputs).toEqual([{ path: 'src/in.txt', change: 'modified' }]);
    expect(d.outputs).toEqual([{ path: 'up.txt', change: 'modified' }]);
    expect(d.config).toEqual([]);
  });

  it('rollback pins the stage, restores it without rerunning and rebuilds its dependents; unpin releases it', async () => {
    const r = await p.cli(['rollback', 'stages.up', 'v1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('stages.up pinned at v1');
    expect(p.read('up.txt')).toBe('ONE\n');
    expect(p.read('twice.txt')).toBe('ONE\nONE\n');
    const st = JSON.parse((await p.cli(['status', '--json'])).stdout);
    expect(st.stages[0]).toMatchObject({ name: 'stages.up', action: 'fresh', version: 1, pinned: true, stale: true });
    expect(st.stages[1]).toMatchObject({ name: 'stages.twice', action: 'fresh', version: 1 });
    // Later builds leave it pinned.
    const again = JSON.parse((await p.cli(['build', '--json'])).stdout);
    expect(again.stages.map((s: { action: string }) => s.action)).toEqual(['fresh', 'fresh']);
    expect((await p.cli(['unpin', 'stages.up'])).code).toBe(0);
    const after = JSON.parse((await p.cli(['build', '--json'])).stdout);
    expect(after.stages.map((s: { action: string; version: number }) => [s.action, s.version])).toEqual([
      ['restored', 2],
      ['restored', 2],
    ]);
    expect(p.read('up.txt')).toBe('TWO\n');
  });

  it('gc keeps current and referenced versions', async () => {
    const r = JSON.parse((await p.cli(['gc', '--keep', '1', '--json'])).stdout);
    // up v1 and twice v1 are neither current nor newest: both go.
    expect(r.removed.length).toBe(2);
    expect(r.kept).toBe(2);
    const log = await p.cli(['log', 'stages.up']);
    expect(log.stdout).toMatch(/ v1 .*\[collected\]/);
    expect((await p.cli(['rollback', 'stages.up', 'v1'])).stderr).toContain('stages.up v1: artifact');
  });

  it('status exits 1 and says why when a stage cannot be planned (a missing input), its dependents blocked', async () => {
    const q = new TempProject();
    try {
      q.pipeline({
        stages: {
          a: { cmd: 'cat src/missing.txt > a.txt', deps: ['src/missing.txt'], outs: ['a.txt'] },
          b: { cmd: 'cat a.txt > b.txt', deps: ['a.txt'], outs: ['b.txt'] },
        },
      });
      const r = await q.cli(['status']);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/stages\.a .*cannot build/);
      expect(r.stdout).toMatch(/stages\.b .*blocked/);
      expect(r.stdout).toContain('2 cannot build');
      const j = await q.cli(['status', '--json']);
      expect(j.code).toBe(1);
      expect(JSON.parse(j.stdout).ok).toBe(false);
    } finally {
      q.cleanup();
    }
  });

  it('invalid pipeline: exit 65, every problem with file:line, no stack trace', async () => {
    const q = new TempProject();
    try {
      q.write('pipeline.json', '{\n  "stages": {\n    "a": { "cmd": "x", "dep": [] },\n    "b": { "cmd": 3 }\n  }\n}\n');
      const r = await q.cli(['validate']);
      expect(r.code).toBe(65);
      expect(r.stderr).toBe(
        'error[E_CONFIG_SCHEMA]: pipeline.json:3 /stages/a/dep: unknown field "dep" (did you mean "deps"?)\n' +
          'pipeline.json:4 /stages/b/cmd: must be a string or an array of strings (got 3)\n' +
          'hint: fix these 2 problems in pipeline.json; `peftmake validate` re-checks it',
      );
      const j = await q.cli(['build', '--json']);
      expect(j.code).toBe(65);
      expect(JSON.parse(j.stdout).error.code).toBe('E_CONFIG_SCHEMA');
    } finally {
      q.cleanup();
    }
  });

  it('maps errors to exit codes: usage 64, not found 1, failed build 1', async () => {
    expect((await p.cli(['frobnicate'])).code).toBe(64);
    const nf = await p.cli(['log', 'stages.upp']);
    expect(nf.code).toBe(1);
    expect(nf.stderr).toContain('no versions recorded for "stages.upp" (did you mean "stages.up"?)');
    const q = new TempProject();
    try {
      q.pipeline({ stages: { bad: { cmd: 'exit 2' } } });
      const r = await q.cli(['build']);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain('✗ stages.bad  failed');
      expect(r.stdout).toContain('FAILED: 1 failed');
    } finally {
      q.cleanup();
    }
  });
});
