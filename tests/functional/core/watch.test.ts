// Watch mode: picks up a change within 2 s and rebuilds, ignores a touch with unchanged content, keeps watching
// through an invalid pipeline.json and reloads the graph on a valid edit.
import { utimesSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { TempProject, actions, waitFor } from '../../helpers/project.ts';
import { TOOLCHAIN } from '../../helpers/toolchain.ts';
import { watchPipeline, type WatchEvent } from '../../../src/watch/watch.ts';

let p: TempProject;
let stop: AbortController | undefined;
let done: Promise<void> | undefined;
afterEach(async () => {
  stop?.abort();
  await done;
  p?.cleanup();
});

function start(): WatchEvent[] {
  const events: WatchEvent[] = [];
  stop = new AbortController();
  done = watchPipeline({ toolchain: TOOLCHAIN, file: p.path('pipeline.json'), signal: stop.signal, onEvent: (e) => events.push(e) });
  return events;
}

const builds = (ev: WatchEvent[]): Extract<WatchEvent, { type: 'build' }>[] =>
  ev.filter((e): e is Extract<WatchEvent, { type: 'build' }> => e.type === 'build');

describe('peftmake watch', () => {
  it('rebuilds on a content change, ignores a touch, survives an invalid pipeline.json and reloads a valid one', async () => {
    p = new TempProject();
    p.write('src/a.txt', 'a\n');
    p.pipeline({ stages: { up: { cmd: 'tr a-z A-Z < src/a.txt > up.txt', deps: ['src/a.txt'], outs: ['up.txt'] } } });
    const ev = start();
    await waitFor(() => builds(ev).length === 1, 30_000, 'the initial build');
    expect(ev[0]).toMatchObject({ type: 'reloaded', stages: 1 });
    expect(actions(builds(ev)[0].report)).toEqual({ 'stages.up': 'built' });
    const ready = ev.find((e) => e.type === 'ready') as Extract<WatchEvent, { type: 'ready' }>;
    expect(ready.paths).toEqual(['pipeline.json', 'src/a.txt']);

    // A change is picked up within 2 s.
    const n = ev.length;
    p.write('src/a.txt', 'ab\n');
    await waitFor(() => ev.slice(n).some((e) => e.type === 'change'), 2_000, 'the change to be picked up');
    expect(ev.slice(n).find((e) => e.type === 'change')).toEqual({ type: 'change', paths: ['src/a.txt'] });
    await waitFor(() => builds(ev).length === 2, 30_000, 'the rebuild');
    expect(actions(builds(ev)[1].report)).toEqual({ 'stages.up': 'built' });
    expect(p.read('up.txt')).toBe('AB\n');

    // A touch with unchanged content triggers nothing.
    const m = ev.length;
    const later = new Date(Date.now() + 5_000);
    utimesSync(p.path('src/a.txt'), later, later);
    await waitFor(() => ev.slice(m).some((e) => e.type === 'unchanged'), 10_000, 'the touch to be checked');
    expect(builds(ev).length).toBe(2);

    // An invalid pipeline.json is reported; watching goes on.
    const k = ev.length;
    p.write('pipeline.json', '{ "stages": { "up": { "cmd": 5 } } }');
    await waitFor(() => ev.slice(k).some((e) => e.type === 'invalid'), 10_000, 'the invalid config report');
    const invalid = ev.slice(k).find((e) => e.type === 'invalid') as Extract<WatchEvent, { type: 'invalid' }>;
    expect(invalid.error.message).toBe('pipeline.json:1 /stages/up/cmd: must be a string or an array of strings (got 5)');

    // A valid edit reloads the graph (a new stage) and builds it.
    p.pipeline({
      stages: {
        up: { cmd: 'tr a-z A-Z < src/a.txt > up.txt', deps: ['src/a.txt'], outs: ['up.txt'] },
        rev: { cmd: 'rev up.txt > rev.txt', deps: ['up.txt'], outs: ['rev.txt'] },
      },
    });
    await waitFor(() => builds(ev).length === 3, 30_000, 'the build after the reload');
    expect(actions(builds(ev)[2].report)).toEqual({ 'stages.up': 'fresh', 'stages.rev': 'built' });
    expect(p.read('rev.txt')).toBe('BA\n');
  });

  it('changes during a build are coalesced into one follow-up build', async () => {
    p = new TempProject();
    p.write('src/a.txt', 'a').write('src/b.txt', 'b0').write('gate/go', '');
    p.pipeline({
      stages: {
        slow: {
          cmd: 'touch gate/started; i=0; while [ ! -e gate/go ]; do i=$((i+1)); [ $i -gt 600 ] && exit 9; sleep 0.05; done; cp src/a.txt a.out',
          deps: ['src/a.txt'],
          outs: ['a.out'],
        },
        b: { cmd: 'cp src/b.txt b.out; echo run >> gate/b-runs', deps: ['src/b.txt'], outs: ['b.out'] },
      },
    });
    const ev = start();
    await waitFor(() => builds(ev).length === 1, 30_000, 'the initial build');
    p.remove('gate/go');
    p.remove('gate/started');
    p.write('src/a.txt', 'a2');
    await waitFor(() => p.exists('gate/started'), 30_000, 'the slow stage to start');
    for (const v of ['b1', 'b2', 'b3']) {
      p.write('src/b.txt', v);
      await new Promise((r) => setTimeout(r, 150));
    }
    p.write('gate/go', '');
    await waitFor(() => builds(ev).length === 3, 30_000, 'the follow-up build');
    expect(actions(builds(ev)[1].report)).toEqual({ 'stages.slow': 'built', 'stages.b': 'fresh' });
    expect(actions(builds(ev)[2].report)).toEqual({ 'stages.slow': 'fresh', 'stages.b': 'built' });
    expect(p.read('b.out')).toBe('b3');
    expect(p.read('gate/b-runs')).toBe('run\nrun\n'); // the initial build and one follow-up
  });
});
