// Fault injection, watch under a held lock: a change arriving while another build holds the lock (longer than one
// attempt waits) is not dropped: watch says so once and builds it as soon as the lock frees.
import { afterEach, describe, expect, it } from 'vitest';
import { TempProject, actions, waitFor } from '../helpers/project.ts';
import { TOOLCHAIN } from '../helpers/toolchain.ts';
import { watchPipeline, type WatchEvent } from '../../src/watch/watch.ts';
import { acquireLock } from '../../src/store/lock.ts';
import { StoreLayout } from '../../src/store/layout.ts';

let p: TempProject | undefined;
let stop: AbortController | undefined;
let done: Promise<void> | undefined;
afterEach(async () => {
  stop?.abort();
  await done;
  p?.cleanup();
});

describe('watch', () => {
  it('retries after the lock frees and never drops the pending change', async () => {
    p = new TempProject();
    p.write('src/a.txt', 'a\n');
    p.pipeline({ stages: { up: { cmd: 'tr a-z A-Z < src/a.txt > up.txt', deps: ['src/a.txt'], outs: ['up.txt'] } } });
    const ev: WatchEvent[] = [];
    stop = new AbortController();
    done = watchPipeline({ toolchain: TOOLCHAIN, file: p.path('pipeline.json'), signal: stop.signal, lockWaitSeconds: 0.3, onEvent: (e) => ev.push(e) });
    const builds = () => ev.filter((e) => e.type === 'build') as Extract<WatchEvent, { type: 'build' }>[];
    await waitFor(() => builds().length === 1, 30_000, 'the initial build');

    const lock = await acquireLock(new StoreLayout(p.dir), { command: 'build (another one)' });
    p.write('src/a.txt', 'changed\n');
    await waitFor(() => ev.some((e) => e.type === 'locked'), 10_000, 'the lock to be reported');
    await new Promise((r) => setTimeout(r, 1500)); // several attempts, each waiting 0.3 s, all refused
    expect(ev.filter((e) => e.type === 'locked')).toHaveLength(1);
    expect((ev.find((e) => e.type === 'locked') as Extract<WatchEvent, { type: 'locked' }>).error.message).toMatch(
      /another build holds the lock: pid \d+ .*\(build \(another one\)\)/,
    );
    expect(builds()).toHaveLength(1);
    lock.release();
    await waitFor(() => builds().length === 2, 10_000, 'the build after the lock freed');
    expect(actions(builds()[1].report)).toEqual({ 'stages.up': 'built' });
    expect(p.read('up.txt')).toBe('CHANGED\n');
  });
});
