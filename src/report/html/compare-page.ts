// The HTML of a two-version comparison: metrics side by side with deltas, the diff's sections, and per kind the
// curves overlaid (adapters), both eval tables, or both datasets.
import type { CompareModel } from '../compare.ts';
import { adapterCharts } from './adapter-section.ts';
import { datasetStatsHtml } from './dataset-section.ts';
import { documentHtml } from './page.ts';
import { esc, fmt } from './escape.ts';
import { evalTable } from './eval-section.ts';

function diffTables(m: CompareModel): string {
  const d = m.diff;
  const change = (title: string, rows: { key: string; old: unknown; new: unknown }[]) =>
    rows.length
      ? `<h3>${esc(title)}</h3><table class="data" data-table="diff-${esc(title)}"><thead><tr><th>key</th><th>v${m.a.version}</th><th>v${m.b.version}</th></tr></thead><tbody>${rows
          .map((c) => `<tr><td>${esc(c.key)}</td><td class="old">${esc(JSON.stringify(c.old))}</td><td class="new">${esc(JSON.stringify(c.new))}</td></tr>`)
          .join('')}</tbody></table>`
      : '';
  const files = (title: string, rows: { path: string; change: string }[]) =>
    rows.length ? `<h3>${esc(title)}</h3><ul>${rows.map((f) => `<li>${esc(f.change)} ${esc(f.path)}</li>`).join('')}</ul>` : '';
  const kindLines = d.kind.length ? `<h3>${esc(m.kind)}</h3><pre>${esc(d.kind.map((l) => `${l.section}: ${l.text}`).join('\n'))}</pre>` : '';
  return (
    change('config', d.config) +
    change('params', d.params) +
    files('inputs', d.inputs) +
    change('upstream', d.upstream) +
    files('outputs', d.outputs) +
    kindLines
  );
}

function metricsTable(m: CompareModel): string {
  if (!m.metrics.length) return '';
  return `<table class="data" data-table="compare-metrics"><thead><tr><th>metric</th><th class="num">v${m.a.version}</th><th class="num">v${m.b.version}</th><th class="num">Δ</th></tr></thead><tbody>${m.metrics
    .map(
      (r) =>
        `<tr data-metric="${esc(r.key)}"><td>${esc(r.key)}</td><td class="num" data-value="${esc(String(r.a ?? ''))}">${esc(fmt(r.a))}</td><td class="num" data-value="${esc(String(r.b ?? ''))}">${esc(fmt(r.b))}</td><td class="num">${r.delta === undefined ? '' : `${r.delta > 0 ? '+' : ''}${esc(fmt(r.delta))}`}</td></tr>`,
    )
    .join('')}</tbody></table>`;
}

export function renderCompareHtml(m: CompareModel): string {
  const side = (title: string, a: string, b: string) =>
    `<h2>${esc(title)}</h2><div class="compare"><div><h3>v${m.a.version}</h3>${a}</div><div><h3>v${m.b.version}</h3>${b}</div></div>`;
  let kindPart = '';
  if (m.adapter) kindPart = `<h2>Curves</h2>${adapterCharts(m.adapter)}`;
  if (m.evalRows) {
    const t = (rows: typeof m.evalRows.a) =>
      evalTable({ stage: m.stage, current: 0, datasets: m.evalRows!.datasets, metrics: m.evalRows!.metrics, rows, gateConfig: null, runs: [] });
    kindPart = side('Tables', t(m.evalRows.a), t(m.evalRows.b));
  }
  if (m.datasets)
    kindPart = side(
      'Datasets',
      m.datasets.a ? datasetStatsHtml(m.datasets.a) : 'not in the store',
      m.datasets.b ? datasetStatsHtml(m.datasets.b) : 'not in the store',
    );
  const body = `<header><h1>${esc(m.stage)}: v${m.a.version} vs v${m.b.version}</h1>
<p class="muted">v${m.a.version} ${esc(m.a.key.slice(0, 12))} (${esc(m.a.createdAt.replace('T', ' ').slice(0, 19))}) · v${m.b.version} ${esc(m.b.key.slice(0, 12))} (${esc(m.b.createdAt.replace('T', ' ').slice(0, 19))}) · generated ${esc(m.generatedAt.replace('T', ' ').slice(0, 19))} UTC</p></header>
<main>
${kindPart}
<h2>Metrics</h2>
${metricsTable(m)}
<h2>What changed</h2>
${diffTables(m) || '<p class="muted">no differences recorded</p>'}
</main>`;
  return documentHtml(`${m.stage}: v${m.a.version} vs v${m.b.version}`, body);
}
