// The report in a real browser: a small real project (stories260K, a few training steps) is built, retrained with a
// new learning rate and rolled back; `peftmake report` writes the page, headless Chromium opens it offline, and the
// test checks the loss chart against train_log.jsonl, the eval table against metrics.json, one graph node per
// stage, both adapter versions overlaid with the pin marked, --compare, and that no request left the machine.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPipeline } from '../../src/config/load.ts';
import { REPO_DIR, TempProject } from '../helpers/project.ts';
import { TOOLCHAIN } from '../helpers/toolchain.ts';
import { chromiumSkipReason, openOfflineBrowser, type OfflineBrowser } from '../helpers/chromium.ts';
import { syntheticQa } from '../helpers/synthetic-qa.ts';

const addonSkip = existsSync(join(REPO_DIR, 'native', 'build', 'Release', 'peft_engine.node')) ? '' : 'native addon not built (npm run build:native)';
const browserSkip = chromiumSkipReason();
const ARTIFACTS = join(REPO_DIR, 'test-artifacts', 'report');

const qaLine = (q: { context: string; question: string; answer: string }) =>
  JSON.stringify({ context: q.context, question: q.question, answers: { text: [q.answer], answer_start: [q.context.indexOf(q.answer)] } });

const train = {
  quant: 'none',
  compute: 'fp32',
  lora: { r: 4, alpha: 8, dropout: 0 },
  warmup: 1,
  batchSize: 4,
  seqLen: 64,
  maxSteps: 6,
  evalEvery: 3,
  checkpointEvery: 0,
};
const pipeline = (taskLr: number) => ({
  description: 'report test project',
  models: { base: { path: join(REPO_DIR, 'models', 'stories260K') } },
  datasets: {
    docs: {
      model: 'base',
      source: { files: ['docs/*.md'], documents: 'paragraph' },
      format: 'text',
      clean: { strip: 'markdown' },
      seqLen: 64,
      split: { valid: 0.2, seed: 1 },
    },
    qa: { model: 'base', source: { files: ['data/qa.jsonl'] }, format: 'qa', split: { valid: 0.2, seed: 1 } },
  },
  adapters: {
    domain: { base: 'base', data: 'docs', lr: 0.003, ...train },
    task: { base: 'base', data: 'qa', on: ['domain'], lr: taskLr, ...train },
  },
  compositions: { assistant: { base: 'base', adapters: [{ name: 'domain' }, { name: 'task', weight: 0.5 }] } },
  evals: { report: { compositions: ['assistant'], datasets: ['docs', 'qa'], maxExamples: 2, maxNewTokens: 4, gate: { maxPerplexityIncrease: 100 } } },
});

const ref = (p: TempProject, stage: string) =>
  JSON.parse(p.read(`artifacts/refs/${stage}.json`)) as { current: number; pinned: boolean; versions: { version: number; key: string }[] };
const keyOf = (p: TempProject, stage: string, version?: number) => {
  const r = ref(p, stage);
  return r.versions.find((v) => v.version === (version ?? r.current))!.key;
};

describe.skipIf(addonSkip !== '')(`peftmake report on a built, retrained and rolled-back project${addonSkip ? ` (skipped: ${addonSkip})` : ''}`, () => {
  const p = new TempProject('peftmake-report-');
  let browser: OfflineBrowser | undefined;

  beforeAll(async () => {
    p.write('docs/a.md', readFileSync(join(REPO_DIR, 'docs', 'concepts.md'), 'utf8'));
    p.write('docs/b.md', readFileSync(join(REPO_DIR, 'docs', 'adapters.md'), 'utf8'));
    p.write('data/qa.jsonl', `${syntheticQa(30, 3).map(qaLine).join('\n')}\n`);
    p.pipeline(pipeline(0.003));
    expect((await p.build()).ok).toBe(true);
    p.pipeline(pipeline(0.01)); // retrain the task adapter: v2, and a new composition and eval
    expect((await p.build()).ok).toBe(true);
    const rb = await p.cli(['rollback', 'adapters.task', 'v1']);
    expect(rb.code, rb.stderr).toBe(0);
    const rep = await p.cli(['report', '--out', 'out']);
    expect(rep.code, rep.stderr).toBe(0);
    expect(rep.stdout).toContain(resolve(p.dir, 'out', 'index.html'));
    if (!browserSkip) browser = await openOfflineBrowser();
  }, 240_000);
  afterAll(async () => {
    await browser?.close();
    p.cleanup();
  });

  it.skipIf(browserSkip !== '')(`the page's graph, curves, table and pin match the store${browserSkip ? ` (skipped: ${browserSkip})` : ''}`, async () => {
    const page = browser!.page;
    await page.goto(pathToFileURL(p.path('out/index.html')).href);

    // one graph node per stage, each linking to a section that exists
    const stages = ['models.base', 'datasets.docs', 'datasets.qa', 'adapters.domain', 'adapters.task', 'compositions.assistant', 'evals.report'];
    const nodes = await page.$$eval('svg[data-chart="pipeline"] g.node', (gs) =>
      gs.map((g) => ({ stage: g.getAttribute('data-stage'), target: !!document.getElementById((g.parentElement?.getAttribute('href') ?? '#').slice(1)) })),
    );
    expect(nodes.map((n) => n.stage).sort()).toEqual([...stages].sort());
    expect(nodes.every((n) => n.target)).toBe(true);
    const edges = [...loadPipeline(p.path('pipeline.json'), { kinds: TOOLCHAIN.kinds }).edges.values()].reduce((n, ups) => n + ups.length, 0);
    expect(await page.$$eval('svg[data-chart="pipeline"] path.edge', (es) => es.length)).toBe(edges);

    // loss charts: as many points as train_log.jsonl has lines, the last one the last logged loss
    for (const stage of ['adapters.domain', 'adapters.task']) {
      const log = p
        .read(`artifacts/objects/${keyOf(p, stage)}/train_log.jsonl`)
        .trim()
        .split('\n');
      const pts = await page.$$eval(`svg[data-chart="${stage}/loss-step"] g.series[data-curve="train"][data-current="yes"] circle`, (cs) =>
        cs.map((c) => ({ x: Number(c.getAttribute('data-x')), y: Number(c.getAttribute('data-y')) })),
      );
      expect(pts).toHaveLength(log.length);
      const last = JSON.parse(log[log.length - 1]);
      expect(pts[pts.length - 1]).toEqual({ x: last.step, y: last.loss });
    }

    // the rollback: task is at v1, pinned, with v2 overlaid
    const taskSeries = await page.$$eval('svg[data-chart="adapters.task/loss-step"] g.series[data-curve="train"]', (gs) =>
      gs.map((g) => ({ version: g.getAttribute('data-version'), current: g.getAttribute('data-current'), points: g.querySelectorAll('circle').length })),
    );
    expect(taskSeries.sort((x, y) => x.version!.localeCompare(y.version!))).toEqual([
      { version: '1', current: 'yes', points: 6 },
      { version: '2', current: 'no', points: 6 },
    ]);
    expect(await page.locator('section[data-stage="adapters.task"] h2 [data-pinned="yes"]').count()).toBe(1);
    expect(await page.getAttribute('svg[data-chart="pipeline"] g.node[data-stage="adapters.task"]', 'class')).toContain('pinned');
    const diff = await page.$$eval('section[data-stage="adapters.task"] table[data-table="config-diff"] tr', (rs) => rs.map((r) => r.textContent));
    expect(diff).toContain('lr0.010.003');

    // the eval table's numbers are metrics.json's
    const metrics = JSON.parse(p.read(`artifacts/objects/${keyOf(p, 'evals.report')}/metrics.json`)) as { rows: Record<string, unknown>[] };
    const cells = await page.$$eval('table[data-table="eval"] td[data-value]', (tds) =>
      tds.map((td) => ({
        subject: td.getAttribute('data-subject'),
        dataset: td.getAttribute('data-dataset'),
        metric: td.getAttribute('data-metric')!,
        value: Number(td.getAttribute('data-value')),
        text: td.textContent,
      })),
    );
    const expected = metrics.rows.flatMap((r) =>
      ['perplexity', 'exact_match', 'f1']
        .filter((m) => typeof r[m] === 'number')
        .map((m) => ({ subject: r.subject, dataset: r.dataset, metric: m, value: r[m] as number })),
    );
    expect(cells.map(({ text: _, ...c }) => c)).toEqual(expect.arrayContaining(expected));
    expect(cells).toHaveLength(expected.length);
    for (const c of cells) expect(c.text).toBe(c.metric === 'perplexity' ? c.value.toFixed(3) : (100 * c.value).toFixed(1));

    // the gate's verdict on each eval run is marked on the composition's metric chart
    const runs = ref(p, 'evals.report').versions.length;
    expect(await page.locator('svg[data-chart="evals.report/assistant/qa/perplexity"] [data-marker="pass"]').count()).toBe(runs);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'report.png'), fullPage: true });
    expect(browser!.blocked).toEqual([]);
  });

  it.skipIf(browserSkip !== '')('report --compare draws both versions and their config change side by side', async () => {
    const r = await p.cli(['report', '--compare', 'adapters.task', 'v1', 'v2', '--out', 'out']);
    expect(r.code, r.stderr).toBe(0);
    const page = browser!.page;
    await page.goto(pathToFileURL(p.path('out/compare-adapters.task-v1-v2.html')).href);
    const series = await page.$$eval('svg[data-chart="adapters.task/loss-step"] g.series[data-curve="train"]', (gs) =>
      gs.map((g) => g.getAttribute('data-version')),
    );
    expect(series.sort()).toEqual(['1', '2']);
    expect(await page.$$eval('table[data-table="diff-config"] tr', (rs) => rs.map((x) => x.textContent))).toContain('lr0.0030.01');
    const vl = await page.$$eval('table[data-table="compare-metrics"] tr[data-metric="valid_loss"] td[data-value]', (tds) =>
      tds.map((t) => Number(t.getAttribute('data-value'))),
    );
    const m = (v: number) => JSON.parse(p.read(`artifacts/objects/${keyOf(p, 'adapters.task', v)}/metrics.json`)).valid_loss;
    expect(vl).toEqual([m(1), m(2)]);

    // an eval: both tables, each with its own version's metrics.json numbers
    const e = await p.cli(['report', '--compare', 'evals.report', 'v1', 'v2', '--out', 'out']);
    expect(e.code, e.stderr).toBe(0);
    await page.goto(pathToFileURL(p.path('out/compare-evals.report-v1-v2.html')).href);
    const tables = await page.$$eval('table[data-table="eval"]', (ts) =>
      ts.map((t) =>
        [...t.querySelectorAll('td[data-value]')].map(
          (td) => `${td.getAttribute('data-subject')}/${td.getAttribute('data-dataset')}/${td.getAttribute('data-metric')}=${td.getAttribute('data-value')}`,
        ),
      ),
    );
    const flat = (v: number) =>
      (JSON.parse(p.read(`artifacts/objects/${keyOf(p, 'evals.report', v)}/metrics.json`)) as { rows: Record<string, unknown>[] }).rows.flatMap((r) =>
        ['perplexity', 'exact_match', 'f1'].filter((k) => typeof r[k] === 'number').map((k) => `${r.subject}/${r.dataset}/${k}=${r[k]}`),
      );
    expect(tables).toEqual([flat(1), flat(2)]);
    expect(browser!.blocked).toEqual([]);

    const bad = await p.cli(['report', '--compare', 'adapters.task', 'v1']);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toContain('--compare takes a stage and two versions (got 2 values)');
    const missing = await p.cli(['report', '--compare', 'adapters.task', 'v1', 'v9']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('adapters.task has no version "v9"');
  });

  it.skipIf(browserSkip !== '')('the request guard does see a page that reaches out (so an empty list means something)', async () => {
    const page = browser!.page;
    await page.goto(pathToFileURL(p.path('out/index.html')).href);
    const before = browser!.blocked.length;
    await page.setContent('<img src="http://192.0.2.1/x.png"><link rel="stylesheet" href="https://example.com/a.css">');
    await page.waitForTimeout(300);
    expect(browser!.blocked.slice(before).sort()).toEqual(['http://192.0.2.1/x.png', 'https://example.com/a.css']);
  });

  it.skipIf(browserSkip !== '')('a damaged artifact is named on the page; the rest of the report still renders', async () => {
    const log = `artifacts/objects/${keyOf(p, 'adapters.task', 2)}/train_log.jsonl`;
    const good = p.read(log);
    p.write(log, `${good}{"step": 7, "loss"\n`);
    try {
      const r = await p.cli(['report', '--out', 'out-damaged']);
      expect(r.code, r.stderr).toBe(0);
      const page = browser!.page;
      await page.goto(pathToFileURL(p.path('out-damaged/index.html')).href);
      const problems = await page.textContent('[data-problems]');
      expect(problems).toContain(`adapters.task: ${p.path(log)}:${good.trim().split('\n').length + 1}: not a JSON object`);
      expect(await page.textContent('section[data-stage="adapters.task"] [data-error]')).toContain('not a JSON object');
      expect(await page.locator('svg[data-chart="adapters.domain/loss-step"] circle').count()).toBeGreaterThan(0);
    } finally {
      p.write(log, good);
    }
  });

  it('log --plot draws the current loss curve in the terminal', async () => {
    const r = await p.cli(['log', 'adapters.domain', '--plot']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    const plot = lines.slice(lines.findIndex((l) => l.includes('loss against step')) + 1).filter((l) => l.includes('┤'));
    expect(plot).toHaveLength(12);
    expect(plot.join('')).toMatch(/[\u2801-\u28ff]/);
    const logged = p
      .read(`artifacts/objects/${keyOf(p, 'adapters.domain')}/train_log.jsonl`)
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).loss as number);
    expect(plot[0].trim().startsWith(String(Number(Math.max(...logged).toPrecision(4))))).toBe(true);
    expect(plot[11].trim().startsWith(String(Number(Math.min(...logged, ...validLosses(p)).toPrecision(4))))).toBe(true);
    const bad = await p.cli(['log', 'datasets.qa', '--plot']);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toContain('not an adapters.* stage');
  });
});

function validLosses(p: TempProject): number[] {
  return (JSON.parse(p.read(`artifacts/objects/${keyOf(p, 'adapters.domain')}/valid_log.json`)) as { loss: number }[]).map((v) => v.loss);
}
