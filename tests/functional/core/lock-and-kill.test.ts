// Two concurrent builds (the second refuses, or waits with --wait), stale locks of dead processes, and SIGKILL
// mid-run (of the stage's process, and of peftmake itself) leaving the store consistent for the next build.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { TempProject, actions, stage, waitFor } from '../../helpers/project.ts';
import { StoreLayout } from '../../../src/store/layout.ts';
import { readRef } from '../../../src/store/refs.ts';

let p: TempProject;
afterEach(() => p?.cleanup());

/** A stage that signals it started (writing its shell pid) and then waits for a `go` file. */
function gated(): TempProject {
  p = new TempProject();
  p.write('in.txt', 'x');
  p.pipeline({
    stages: {
      slow: {
        cmd: 'echo $$ > started.pid; i=0; while [ ! -e go ]; do i=$((i+1)); [ $i -gt 600 ] && exit 9; sleep 0.05; done; cp in.txt out.txt',
        deps: ['in.txt'],
        outs: ['out.txt'],
      },
    },
  });
  return p;
}

/** Waits for the stage to write its pid: the file exists as soon as the shell opens it, before the number is in it. */
async function startedPid(what: string): Promise<number> {
  await waitFor(() => p.exists('started.pid') && /^\d+\s*$/.test(p.read('started.pid')), 30_000, what);
  return Number(p.read('started.pid').trim());
}

function objectsAreComplete(dir: string): boolean {
  const objects = `${dir}/artifacts/objects`;
  if (!existsSync(objects)) return true;
  return readdirSync(objects).every((k) => existsSync(`${objects}/${k}/manifest.json`));
}

describe('build lock', () => {
  it('a second concurrent build refuses with a clear message, or waits with --wait', async () => {
    gated();
    const first = p.spawnCli(['build']);
    await waitFor(() => p.exists('started.pid'), 30_000, 'the first build to start its stage');
    const lock = JSON.parse(p.read('artifacts/build.lock'));
    expect(lock).toMatchObject({ pid: first.pid, host: hostname(), command: 'build' });
    const second = await p.cli(['build']);
    expect(second.code).toBe(75);
    expect(second.stderr).toContain(`error[E_LOCKED]: another build holds the lock: pid ${first.pid} on ${hostname()}, started ${lock.startedAt} (build)`);
    expect(second.stderr).toContain('hint: wait for it to finish, or pass --wait SECONDS to queue behind it');
    const third = p.spawnCli(['build', '--wait', '60', '--json']);
    await new Promise((r) => setTimeout(r, 300));
    p.write('go', '');
    const r1 = await first;
    expect(r1.exitCode).toBe(0);
    const r3 = await third;
    expect(r3.exitCode).toBe(0);
    expect(JSON.parse(String(r3.stdout)).stages[0].action).toBe('fresh');
    expect(p.exists('artifacts/build.lock')).toBe(false);
  });

  it('a lock left by a dead process is detected and cleared', async () => {
    p = new TempProject();
    p.pipeline({ stages: { a: { cmd: 'echo a > a.txt', outs: ['a.txt'] } } });
    p.write('artifacts/build.lock', JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname(), startedAt: '2026-01-01T00:00:00.000Z', command: 'build' }));
    const r = await p.build();
    expect(actions(r)).toEqual({ 'stages.a': 'built' });
    expect(p.exists('artifacts/build.lock')).toBe(false);
  });
});

describe('Ctrl-C', () => {
  it("SIGINT stops the build cleanly: exit 130, the stage's process ended, nothing committed, lock released", async () => {
    gated();
    const child = p.spawnCli(['build']);
    const stagePid = await startedPid('the stage to start');
    child.kill('SIGINT');
    const r = await child;
    expect(r.exitCode).toBe(130);
    expect(String(r.stderr)).toContain('error[E_CANCELLED]: build interrupted');
    expect(String(r.stdout)).toContain('✗ stages.slow  failed');
    expect(() => process.kill(stagePid, 0)).toThrow();
    expect(p.exists('artifacts/build.lock')).toBe(false);
    expect(p.list('artifacts/objects')).toEqual([]);
    expect(p.list('artifacts/tmp')).toEqual([]);
    expect(p.exists('artifacts/refs/stages.slow.json')).toBe(false);
  });
});

describe('SIGKILL mid-run', () => {
  it("killing the stage's process fails the stage, commits nothing, and the next build completes", async () => {
    gated();
    const build = p.build();
    process.kill(await startedPid('the stage to start'), 'SIGKILL');
    const r = await build;
    expect(stage(r, 'stages.slow').action).toBe('failed');
    expect(stage(r, 'stages.slow').error).toMatch(/was killed by SIGKILL/);
    expect(readRef(new StoreLayout(p.dir), 'stages.slow')).toBeUndefined();
    expect(p.list('artifacts/objects')).toEqual([]);
    p.write('go', '');
    const again = await p.build();
    expect(actions(again)).toEqual({ 'stages.slow': 'built' });
    expect(p.read('out.txt')).toBe('x');
  });

  it('killing peftmake itself leaves the store consistent; the next build clears the lock and completes', async () => {
    gated();
    await (async () => {
      // A first committed version, so we can check it survives.
      p.write('go', '');
      expect((await p.cli(['build'])).code).toBe(0);
      p.remove('go');
      p.remove('started.pid');
    })();
    p.write('in.txt', 'y');
    const child = p.spawnCli(['build']);
    const stagePid = await startedPid('the stage to start');
    child.kill('SIGKILL');
    await child;
    try {
      process.kill(stagePid, 'SIGKILL'); // the orphaned shell, so it cannot write later
    } catch {
      // already gone
    }
    expect(p.exists('artifacts/build.lock')).toBe(true);
    expect(p.list('artifacts/tmp').length).toBe(1);
    expect(objectsAreComplete(p.dir)).toBe(true);
    const ref = readRef(new StoreLayout(p.dir), 'stages.slow')!;
    expect(ref.current).toBe(1);
    p.write('go', '');
    const r = await p.build();
    expect(actions(r)).toEqual({ 'stages.slow': 'built' });
    expect(stage(r, 'stages.slow').version).toBe(2);
    expect(p.read('out.txt')).toBe('y');
    expect(p.list('artifacts/tmp')).toEqual([]);
    expect(objectsAreComplete(p.dir)).toBe(true);
    expect(JSON.parse(readFileSync(p.path('artifacts/refs/stages.slow.json'), 'utf8')).versions.length).toBe(2);
  });
});
