// The report model and page of a project without training (command stages only, in-process): before the first
// build every stage is stale and says why, after it fresh with its version; an edited input makes its stage and
// the one downstream stale again; the page has no script and no URL outside itself.
import { afterAll, describe, expect, it } from 'vitest';
import { statusOf } from '../../src/exec/build.ts';
import { projectReportModel } from '../../src/report/index.ts';
import { renderReportHtml } from '../../src/report/html/page.ts';
import { TempProject } from '../helpers/project.ts';
import { TOOLCHAIN } from '../helpers/toolchain.ts';

describe('report model of a command-stage project', () => {
  const p = new TempProject('peftmake-report-model-').write('a.txt', 'a\n').pipeline({
    stages: { make: { cmd: 'cat a.txt > b.txt', deps: ['a.txt'], outs: ['b.txt'] }, use: { cmd: 'cat b.txt > c.txt', deps: ['b.txt'], outs: ['c.txt'] } },
  });
  const model = () =>
    projectReportModel(p.path('pipeline.json'), {
      kinds: TOOLCHAIN.kinds,
      plan: async (pipeline) => (await statusOf({ pipeline, toolchain: TOOLCHAIN })).stages,
    });
  afterAll(() => p.cleanup());

  it('shows what a build would do, then the versions it made', async () => {
    const before = await model();
    expect(before.graph.map((n) => [n.name, n.state, n.version, n.upstream])).toEqual([
      ['stages.make', 'stale', null, []],
      ['stages.use', 'stale', null, ['stages.make']],
    ]);
    expect(before.graph[0].reasons).toEqual(['no-record']);
    expect(before.others.map((o) => [o.stage, o.current])).toEqual([
      ['stages.make', null],
      ['stages.use', null],
    ]);
    expect((await p.build()).ok).toBe(true);
    const after = await model();
    expect(after.graph.map((n) => [n.state, n.version])).toEqual([
      ['fresh', 1],
      ['fresh', 1],
    ]);
    p.write('a.txt', 'changed\n');
    const edited = await model();
    expect(edited.graph.map((n) => n.state)).toEqual(['stale', 'stale']);
    expect(edited.graph[0].reasons).toEqual(['dep-modified a.txt']);

    const html = renderReportHtml(edited);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|url\((?!#)/i); // url(#arrow) is the SVG marker
    expect(html).not.toMatch(/(?:src|href)="(?!#)/); // every link is to a section of the page
    expect(html).toContain('id="stage-stages.make"');
    expect(html).toContain('0 of 2 stages fresh');
  });
});
