// The live part of the report: a training log in the resume area of a key not yet committed is drawn as "building",
// and while a live process holds the build lock the page says so (and, for a server's live view, reloads itself).
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { collectAdapter } from '../../../src/report/collect-adapter.ts';
import { adapterSection } from '../../../src/report/html/adapter-section.ts';
import { renderReportHtml } from '../../../src/report/html/page.ts';
import type { ReportModel } from '../../../src/report/model.ts';
import { StoreLayout } from '../../../src/store/layout.ts';
import { lockHolder } from '../../../src/store/lock.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

describe('the report while a build runs', () => {
  it('draws the log of an uncommitted key as a building series', async () => {
    const layout = new StoreLayout(tempDir('peftmake-report-live-'));
    const dir = layout.resume('adapters.a', 'f'.repeat(64));
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'train_log.jsonl'),
      [1, 2, 3].map((s) => JSON.stringify({ step: s, loss: 4 - s / 2, lr: 0.001, tokens: 64, seconds: 0.1 })).join('\n') + '\n',
    );
    writeFileSync(join(dir, 'valid_log.json'), JSON.stringify([{ step: 2, loss: 3.5 }]));
    const a = await collectAdapter(layout, 'adapters.a', undefined, 10);
    expect(a.versions).toEqual([]);
    expect(a.inProgress?.train.map((p) => p.loss)).toEqual([3.5, 3, 2.5]);
    expect(a.inProgress?.valid).toEqual([{ step: 2, loss: 3.5, tokens: 128 }]);
    const html = adapterSection(a);
    expect(html).toContain('step 3 of 10');
    expect(html).toContain('An interrupted training'); // no build holds the lock
    const building = html.match(/<g class="series" data-series="building \(step 3 of 10\)" data-version="building" data-curve="train"[\s\S]*?<\/g>/)?.[0] ?? '';
    expect(building.match(/<circle class="pt"/g)).toHaveLength(3);
  });

  it('names the live lock holder and reloads only when asked and a build runs', () => {
    const layout = new StoreLayout(tempDir('peftmake-report-live-'));
    mkdirSync(layout.root, { recursive: true });
    expect(lockHolder(layout)).toBeUndefined();
    writeFileSync(layout.lock, JSON.stringify({ pid: process.pid, host: hostname(), startedAt: '2026-01-01T00:00:00Z', command: 'build' }));
    const holder = lockHolder(layout);
    expect(holder?.pid).toBe(process.pid);
    const model: ReportModel = {
      title: 't',
      description: '',
      projectDir: '/p',
      pipelineFile: '/p/pipeline.json',
      generatedAt: '2026-01-01T00:00:00Z',
      graph: [],
      running: holder ?? null,
      adapters: [],
      evals: [],
      compositions: [],
      datasets: [],
      others: [],
      problems: [],
    };
    expect(renderReportHtml(model, { refreshSeconds: 5 })).toContain('<meta http-equiv="refresh" content="5">');
    expect(renderReportHtml(model, { refreshSeconds: 5 })).toContain(`pid ${process.pid}`);
    expect(renderReportHtml(model)).not.toContain('http-equiv="refresh"');
    expect(renderReportHtml({ ...model, running: null }, { refreshSeconds: 5 })).not.toContain('http-equiv="refresh"');
    const dead = spawnSync('true').pid; // exited: its lock is stale
    writeFileSync(layout.lock, JSON.stringify({ pid: dead, host: hostname(), startedAt: '2026-01-01T00:00:00Z', command: 'build' }));
    expect(lockHolder(layout)).toBeUndefined();
  });
});
