// Fault injection, cancel: SIGTERM to a build whose command stage has a nested child kills the stage's whole process
// group promptly; nothing writes into the workspace after the build reported its cancel. A build killed outright
// (SIGKILL) takes its command stage's group with it (old code: the orphaned group wrote into the workspace after).
import { existsSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { CLI, World, actions, peftmake } from './harness.ts';

let w: World | undefined;
afterEach(() => w?.cleanup());

/** No such process, or only its zombie (killed, waiting for a parent to reap it: in a container, PID 1 may never). */
const gone = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
};

/** Waits for the nested shell of the stage to write its pid (the file exists before the number is in it). */
async function innerPid(w: World): Promise<number> {
  const t0 = Date.now();
  while (!existsSync(w.path('inner.pid')) || !/^\d+\s*$/.test(readFileSync(w.path('inner.pid'), 'utf8'))) {
    if (Date.now() - t0 > 30_000) throw new Error('the stage never started');
    await new Promise((r) => setTimeout(r, 25));
  }
  return Number(readFileSync(w.path('inner.pid'), 'utf8').trim());
}

describe('cancel', () => {
  it("SIGTERM kills the command stage's grandchildren; nothing writes after the cancel", async () => {
    w = new World({ stages: { nested: { cmd: "sh -c 'echo $$ > inner.pid; sleep 3; echo late > late.txt'; echo after > after.txt", outs: ['after.txt'] } } });
    const child = execa(process.execPath, [CLI, 'build'], { cwd: w.dir, reject: false, env: { FORCE_COLOR: '0' } });
    const t0 = Date.now();
    // the file exists as soon as the shell opens it, before the number is in it
    while (!existsSync(w.path('inner.pid')) || !/^\d+\s*$/.test(readFileSync(w.path('inner.pid'), 'utf8'))) {
      if (Date.now() - t0 > 30_000) throw new Error('the stage never started');
      await new Promise((r) => setTimeout(r, 25));
    }
    await new Promise((r) => setTimeout(r, 100));
    const inner = Number(readFileSync(w.path('inner.pid'), 'utf8').trim());
    const t1 = Date.now();
    child.kill('SIGTERM');
    const r = await child;
    expect(r.exitCode).toBe(130);
    expect(String(r.stderr)).toContain('error[E_CANCELLED]: build interrupted');
    expect(Date.now() - t1).toBeLessThan(2500);
    expect(gone(inner), 'the nested shell outlived the cancel').toBe(true);
    await new Promise((r) => setTimeout(r, 3200)); // past the moment the nested shell would have written
    expect(existsSync(w.path('late.txt'))).toBe(false);
    expect(existsSync(w.path('after.txt'))).toBe(false);
  });

  it("SIGKILL of the build takes the command stage's group with it; nothing writes after; the next build is correct", async () => {
    w = new World({ stages: { nested: { cmd: "sh -c 'echo $$ > inner.pid; sleep 2; echo late > late.txt'; echo after > after.txt", outs: ['after.txt'] } } });
    const child = execa(process.execPath, [CLI, 'build'], { cwd: w.dir, reject: false, env: { FORCE_COLOR: '0' } });
    const inner = await innerPid(w);
    child.kill('SIGKILL');
    await child;
    const t0 = Date.now();
    while (!gone(inner) && Date.now() - t0 < 1000) await new Promise((r) => setTimeout(r, 20));
    expect(gone(inner), 'the nested shell outlived the killed build').toBe(true);
    await new Promise((r) => setTimeout(r, 2200)); // past the moment the nested shell would have written
    expect(existsSync(w.path('late.txt'))).toBe(false);
    expect(existsSync(w.path('after.txt'))).toBe(false);
    const r = await peftmake(w.dir, ['build', '--json']); // the dead build's lock is cleared
    expect(r.code, r.stderr).toBe(0);
    expect(actions(r)).toEqual({ 'stages.nested': 'built' });
    expect(readFileSync(w.path('after.txt'), 'utf8')).toBe('after\n');
  });
});
