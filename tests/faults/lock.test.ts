// Fault injection, the build lock: two builds racing over a stale lock never both run; a lock naming a live but
// unrelated process (a reused PID) is cleared; another host's lock is a clear error with the exact command to clear it;
// --wait gives up after its timeout with the holder named.
import { execSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { World, peftmake } from './harness.ts';

let w: World | undefined;
afterEach(() => w?.cleanup());

const stage = { cmd: 'echo start >> runs.log; sleep 3; echo end >> runs.log; echo done > out.txt', outs: ['out.txt'] };

function lockFile(info: Record<string, unknown>): void {
  writeFileSync(w!.path('artifacts/build.lock'), JSON.stringify({ host: hostname(), startedAt: '2026-01-01T00:00:00.000Z', command: 'build', ...info }));
}

describe('build lock', () => {
  it('two builds racing to clear a stale lock: exactly one runs, the other says who holds it', async () => {
    w = new World({ stages: { slow: stage } });
    execSync(`mkdir -p ${w.path('artifacts')}`);
    lockFile({ pid: 2 ** 22 + 4321 }); // dead
    // A stalls between reading the stale lock and clearing it; B, started meanwhile, tries to clear it too.
    const a = peftmake(w.dir, ['build'], { fault: 'lock.clear-stale:sleep3000' });
    await new Promise((r) => setTimeout(r, 1500));
    const b = peftmake(w.dir, ['build']);
    const [ra, rb] = await Promise.all([a, b]);
    const runs = readFileSync(w.path('runs.log'), 'utf8').trim().split('\n');
    expect(runs).toEqual(['start', 'end']);
    const loser = [ra, rb].find((r) => r.code !== 0)!;
    expect([ra.code, rb.code].sort()).toEqual([0, 75]);
    expect(loser.stderr).toMatch(/error\[E_LOCKED\]: another build holds the lock: pid \d+ on /);
  });

  it('a lock naming a live process that is not the build that wrote it (a reused PID) is cleared', async () => {
    w = new World({ stages: { quick: { cmd: 'echo ok > out.txt', outs: ['out.txt'] } } });
    execSync(`mkdir -p ${w.path('artifacts')}`);
    lockFile({ pid: process.pid, pidStart: 1 }); // alive, but started at another time than the lock says
    const r = await peftmake(w.dir, ['build']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toContain(`cleared a stale build lock of pid ${process.pid} (pid ${process.pid} is now another process;`);
  });

  it("another host's lock: a clear error with the exact command to clear it; after it, the build runs", async () => {
    w = new World({ stages: { quick: { cmd: 'echo ok > out.txt', outs: ['out.txt'] } } });
    execSync(`mkdir -p ${w.path('artifacts')}`);
    lockFile({ pid: 12345, host: 'old-container-7f3a' });
    const r = await peftmake(w.dir, ['build']);
    expect(r.code).toBe(75);
    const lock = join(w.dir, 'artifacts', 'build.lock');
    expect(r.stderr).toContain(`error[E_LOCKED]: the build lock is held by pid 12345 on host old-container-7f3a (this is ${hostname()})`);
    const cmd = /if no build is running there \(a restarted container, say\), clear it with: (.+)$/m.exec(r.stderr)?.[1];
    expect(cmd).toBe(`rm '${lock}'`);
    execSync(cmd!);
    expect((await peftmake(w.dir, ['build'])).code).toBe(0);
  });

  it('--wait gives up after its timeout, naming the holder', async () => {
    w = new World({ stages: { quick: { cmd: 'echo ok > out.txt', outs: ['out.txt'] } } });
    const holder = peftmake(w.dir, ['build'], { env: { PEFTMAKE_FAULT: 'lock.acquired:sleep6000' } });
    const t = Date.now();
    while (!existsSync(w.path('artifacts/build.lock')) && Date.now() - t < 30_000) await new Promise((r) => setTimeout(r, 20));
    const t0 = Date.now();
    const r = await peftmake(w.dir, ['build', '--wait', '1']);
    expect(r.code).toBe(75);
    expect(r.stderr).toMatch(/error\[E_LOCKED\]: another build holds the lock: pid \d+ on .* \(still held after waiting 1 s\)/);
    expect(Date.now() - t0).toBeLessThan(5500);
    expect((await holder).code).toBe(0);
  });
});
