// Incremental builds of command-stage pipelines in temp projects: no-op, exact downstream reruns, restores,
// params, outputs, failures, parallelism and the heavy slot.
import { afterEach, describe, expect, it } from 'vitest';
import { TempProject, actions, stage } from '../../helpers/project.ts';
import { readRef } from '../../../src/store/refs.ts';
import { StoreLayout } from '../../../src/store/layout.ts';

let p: TempProject;
afterEach(() => p?.cleanup());

/** a -> b -> c chain plus an independent d; every run appends the stage name to runs.log. */
function chain(): TempProject {
  p = new TempProject();
  p.write('src/a.txt', 'alpha\n')
    .write('src/d.txt', 'delta\n')
    .write('params.json', JSON.stringify({ n: 3, other: 1 }));
  p.pipeline({
    stages: {
      a: { cmd: 'echo a >> runs.log; mkdir -p gen && tr a-z A-Z < src/a.txt > gen/a.txt', deps: ['src/a.txt'], outs: ['gen/a.txt'] },
      b: { cmd: 'echo b >> runs.log; cat gen/a.txt gen/a.txt > b.txt', deps: ['gen/a.txt'], outs: ['b.txt'], params: ['n'] },
      c: { cmd: 'echo c >> runs.log; wc -c < b.txt > c.txt', deps: ['b.txt'], outs: ['c.txt'] },
      d: { cmd: 'echo d >> runs.log; cp src/d.txt d.txt', deps: ['src/d.txt'], outs: ['d.txt'] },
    },
  });
  return p;
}

const runs = (): string[] => (p.exists('runs.log') ? p.read('runs.log').trim().split('\n') : []);

describe('incremental build', () => {
  it('builds everything once, then a second build runs nothing', async () => {
    chain();
    const first = await p.build();
    expect(first.ok).toBe(true);
    expect(actions(first)).toEqual({ 'stages.a': 'built', 'stages.b': 'built', 'stages.c': 'built', 'stages.d': 'built' });
    expect(stage(first, 'stages.a').reasons).toEqual([{ type: 'no-record' }]);
    expect(p.read('c.txt').trim()).toBe('12');
    const second = await p.build();
    expect(actions(second)).toEqual({ 'stages.a': 'fresh', 'stages.b': 'fresh', 'stages.c': 'fresh', 'stages.d': 'fresh' });
    expect(runs().sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(second.stages.map((s) => s.version)).toEqual([1, 1, 1, 1]);
  });

  it('a changed dep reruns exactly its downstream stages, with reasons', async () => {
    chain();
    await p.build();
    p.write('src/a.txt', 'alphabet\n');
    const st = await p.status();
    expect(actions(st)).toEqual({ 'stages.a': 'built', 'stages.b': 'built', 'stages.c': 'built', 'stages.d': 'fresh' });
    expect(runs().length).toBe(4); // status ran nothing
    const r = await p.build();
    expect(actions(r)).toEqual(actions(st));
    expect(stage(r, 'stages.a').reasons).toEqual([{ type: 'dep-modified', path: 'src/a.txt' }]);
    expect(stage(r, 'stages.b').reasons).toEqual([{ type: 'upstream-changed', stage: 'stages.a' }]);
    expect(stage(r, 'stages.a').version).toBe(2);
    expect(runs().slice(4)).toEqual(['a', 'b', 'c']);
    expect(p.read('c.txt').trim()).toBe('18');
  });

  it('reverting an input restores the earlier version from the store without rerunning', async () => {
    chain();
    await p.build();
    const v1 = p.read('b.txt');
    p.write('src/a.txt', 'other\n');
    await p.build();
    expect(p.read('b.txt')).not.toBe(v1);
    p.write('src/a.txt', 'alpha\n');
    const r = await p.build();
    expect(actions(r)).toEqual({ 'stages.a': 'restored', 'stages.b': 'restored', 'stages.c': 'restored', 'stages.d': 'fresh' });
    expect(r.stages.map((s) => s.version)).toEqual([1, 1, 1, 1]);
    expect(p.read('b.txt')).toBe(v1);
    expect(runs().length).toBe(7); // 4 + 3, nothing for the restore
    expect(actions(await p.build())).toEqual({ 'stages.a': 'fresh', 'stages.b': 'fresh', 'stages.c': 'fresh', 'stages.d': 'fresh' });
  });

  it('params: a named key joins the key, other keys do not', async () => {
    chain();
    await p.build();
    p.write('params.json', JSON.stringify({ n: 3, other: 2 }));
    expect(actions(await p.status())['stages.b']).toBe('fresh');
    p.write('params.json', JSON.stringify({ n: 4, other: 2 }));
    const r = await p.build();
    expect(stage(r, 'stages.b').reasons).toEqual([{ type: 'param-changed', key: 'params.json:n', old: 3, new: 4 }]);
    expect(actions(r)).toEqual({ 'stages.a': 'fresh', 'stages.b': 'built', 'stages.c': 'built', 'stages.d': 'fresh' });
  });

  it('a changed command is a param change; a description change is cosmetic', async () => {
    chain();
    await p.build();
    const pl = JSON.parse(p.read('pipeline.json'));
    pl.stages.d.description = 'copies d';
    p.pipeline(pl);
    expect(actions(await p.status())['stages.d']).toBe('fresh');
    pl.stages.d.cmd = 'echo d >> runs.log; cp src/d.txt d.txt; echo more >> d.txt';
    p.pipeline(pl);
    const r = await p.build();
    expect(stage(r, 'stages.d').reasons).toEqual([
      { type: 'param-changed', key: 'cmd', old: 'echo d >> runs.log; cp src/d.txt d.txt', new: 'echo d >> runs.log; cp src/d.txt d.txt; echo more >> d.txt' },
    ]);
  });

  it('deleted or edited outputs are restored from the store', async () => {
    chain();
    await p.build();
    p.remove('d.txt');
    p.write('c.txt', 'tampered\n');
    const r = await p.build();
    expect(actions(r)).toEqual({ 'stages.a': 'fresh', 'stages.b': 'fresh', 'stages.c': 'restored', 'stages.d': 'restored' });
    expect(stage(r, 'stages.d').reasons).toEqual([{ type: 'output-missing', path: 'd.txt' }]);
    expect(p.read('d.txt')).toBe('delta\n');
    expect(p.read('c.txt').trim()).toBe('12');
    expect(runs().length).toBe(4);
  });

  it('globs: added and removed files are reasons', async () => {
    p = new TempProject();
    p.write('notes/a.md', 'a').write('notes/b.md', 'b').write('notes/skip.txt', 's');
    p.pipeline({ stages: { cat: { cmd: 'cat notes/*.md > all.md', deps: ['notes/*.md'], outs: ['all.md'] } } });
    await p.build();
    p.write('notes/skip.txt', 'changed');
    expect(actions(await p.status())).toEqual({ 'stages.cat': 'fresh' });
    p.write('notes/c.md', 'c');
    p.remove('notes/a.md');
    const r = await p.build();
    expect(stage(r, 'stages.cat').reasons).toEqual([
      { type: 'dep-added', path: 'notes/c.md' },
      { type: 'dep-removed', path: 'notes/a.md' },
    ]);
    expect(p.read('all.md')).toBe('bc');
  });

  it('a missing input is a clear error naming the stage and path', async () => {
    p = new TempProject();
    p.pipeline({
      stages: {
        x: { cmd: 'true', deps: ['nope.txt'], outs: [] },
        y: { cmd: 'true', deps: ['data/*.csv'] },
        after: { cmd: 'echo > after.txt', deps: ['x.out'], outs: ['after.txt'] },
        xo: { cmd: 'echo > x.out', deps: ['nope.txt'], outs: ['x.out'] },
        ok: { cmd: 'echo ok > ok.txt', outs: ['ok.txt'] },
      },
    });
    const st = await p.status();
    expect(st.ok).toBe(false);
    expect(stage(st, 'stages.x')).toMatchObject({ action: 'failed', version: null, error: 'stages.x: input "nope.txt" does not exist' });
    expect(stage(st, 'stages.y').error).toBe('stages.y: input glob "data/*.csv" matches no file');
    expect(stage(st, 'stages.after')).toMatchObject({ action: 'skipped', error: 'upstream stages.xo failed' });
    const r = await p.build({ keepGoing: true });
    expect(actions(r)).toEqual({ 'stages.x': 'failed', 'stages.y': 'failed', 'stages.xo': 'failed', 'stages.after': 'skipped', 'stages.ok': 'built' });
    p.write('nope.txt', '');
    const r2 = await p.build();
    expect(actions(r2)).toMatchObject({ 'stages.x': 'built', 'stages.y': 'failed' });
  });
});

describe('failures', () => {
  it("--keep-going skips only the failed stage's dependents; nothing partial is committed", async () => {
    chain();
    await p.build();
    const layout = new StoreLayout(p.dir);
    const pl = JSON.parse(p.read('pipeline.json'));
    pl.stages.b.cmd = 'echo partial > b.txt; exit 3';
    pl.stages.d.cmd = 'echo d >> runs.log; cp src/d.txt d.txt; echo 2 >> d.txt';
    p.pipeline(pl);
    const objectsBefore = p.list('artifacts/objects');
    const r = await p.build({ keepGoing: true });
    expect(r.ok).toBe(false);
    expect(actions(r)).toEqual({ 'stages.a': 'fresh', 'stages.b': 'failed', 'stages.c': 'skipped', 'stages.d': 'built' });
    expect(stage(r, 'stages.b').error).toBe('stages.b: command `echo partial > b.txt; exit 3` exited with code 3');
    expect(stage(r, 'stages.c').error).toBe('upstream stages.b failed');
    expect(readRef(layout, 'stages.b')!.current).toBe(1);
    expect(readRef(layout, 'stages.b')!.versions.length).toBe(1);
    expect(p.list('artifacts/objects').length).toBe(objectsBefore.length + 1); // only d's new version
    expect(p.list('artifacts/tmp')).toEqual([]);
  });

  it('without --keep-going the build stops after a failure', async () => {
    p = new TempProject();
    p.pipeline({ stages: { a: { cmd: 'exit 1' }, b: { cmd: 'echo b > b.txt', outs: ['b.txt'] } } });
    const r = await p.build({ jobs: 1 });
    expect(r.ok).toBe(false);
    expect(actions(r)).toEqual({ 'stages.a': 'failed', 'stages.b': 'skipped' });
    expect(stage(r, 'stages.b').error).toBe('build stopped after a failure');
  });

  it('an output the command did not create fails the stage', async () => {
    p = new TempProject();
    p.pipeline({ stages: { a: { cmd: 'true', outs: ['x.txt'] } } });
    const r = await p.build();
    expect(stage(r, 'stages.a').error).toBe('stages.a: declared output "x.txt" was not created');
  });

  it('an input changed while the stage runs is reported and not recorded as fresh', async () => {
    p = new TempProject();
    p.write('in.txt', '1');
    p.pipeline({ stages: { a: { cmd: 'cp in.txt out.txt; echo 2 >> in.txt', deps: ['in.txt'], outs: ['out.txt'] } } });
    const r = await p.build();
    expect(stage(r, 'stages.a').action).toBe('failed');
    expect(stage(r, 'stages.a').error).toBe('stages.a: input "in.txt" changed while the stage was running; the result was not recorded');
    expect(readRef(new StoreLayout(p.dir), 'stages.a')).toBeUndefined();
  });
});

describe('scheduling', () => {
  it('runs independent stages in parallel up to --jobs', async () => {
    p = new TempProject();
    // Each stage waits until the other has started: it can only pass when both run at once.
    const waitOther = (me: string, other: string): string =>
      `touch ${me}.started; i=0; while [ ! -e ${other}.started ]; do i=$((i+1)); [ $i -gt 200 ] && exit 9; sleep 0.05; done; echo ok > ${me}.txt`;
    p.pipeline({ stages: { x: { cmd: waitOther('x', 'y'), outs: ['x.txt'] }, y: { cmd: waitOther('y', 'x'), outs: ['y.txt'] } } });
    const r = await p.build({ jobs: 2 });
    expect(actions(r)).toEqual({ 'stages.x': 'built', 'stages.y': 'built' });
  });

  it('heavy stages hold an exclusive slot even with spare jobs', async () => {
    p = new TempProject();
    const heavy = (me: string): string => `[ -e busy ] && exit 7; touch busy; sleep 0.3; rm busy; echo ${me} > ${me}.txt`;
    p.pipeline({
      stages: {
        h1: { cmd: heavy('h1'), outs: ['h1.txt'], heavy: true },
        h2: { cmd: heavy('h2'), outs: ['h2.txt'], heavy: true },
        h3: { cmd: heavy('h3'), outs: ['h3.txt'], heavy: true },
      },
    });
    const r = await p.build({ jobs: 3 });
    expect(actions(r)).toEqual({ 'stages.h1': 'built', 'stages.h2': 'built', 'stages.h3': 'built' });
  });

  it('builds only the targets and what they depend on', async () => {
    chain();
    const r = await p.build({ targets: ['stages.b'] });
    expect(actions(r)).toEqual({ 'stages.a': 'built', 'stages.b': 'built' });
    await expect(p.build({ targets: ['stages.bb'] })).rejects.toThrow('no stage "stages.bb" in');
  });
});
