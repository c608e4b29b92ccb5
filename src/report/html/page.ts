// The whole report page: header, the pipeline graph, one section per adapter, eval, composition and dataset, and a
// table of the other stages. One self-contained HTML document: styles inlined, charts as SVG, no script, no fetch.
import type { ReportModel } from '../model.ts';
import { pipelineGraph } from '../svg/pipeline-graph.ts';
import { adapterSection } from './adapter-section.ts';
import { compositionSection } from './composition-section.ts';
import { datasetSection } from './dataset-section.ts';
import { anchor, esc } from './escape.ts';
import { evalSection } from './eval-section.ts';
import { REPORT_CSS } from './style.ts';

/** The document around a body: inline CSS, a CSP that forbids every fetch (even if a page were tampered with). */
export function documentHtml(title: string, body: string, extraHead = ''): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>${extraHead}
<style>${REPORT_CSS}</style></head>
<body>
${body}
</body></html>
`;
}

function othersTable(m: ReportModel): string {
  if (!m.others.length) return '';
  return `<h2>Other stages</h2><table class="data" data-table="others"><thead><tr><th>stage</th><th>kind</th><th>current</th><th class="num">versions</th></tr></thead><tbody>${m.others
    .map(
      (o) =>
        `<tr id="${esc(anchor(o.stage))}" data-stage="${esc(o.stage)}"><td>${esc(o.stage)}</td><td>${esc(o.kind)}</td><td>${o.current ? `v${o.current}${o.pinned ? ' <span class="badge pin">pinned</span>' : ''}` : '<span class="muted">not built</span>'}</td><td class="num">${o.versions}</td></tr>`,
    )
    .join('')}</tbody></table>`;
}

export function reportBody(m: ReportModel, live = false, extra = ''): string {
  const counts = { fresh: m.graph.filter((n) => n.state === 'fresh').length, total: m.graph.length };
  const nav = [...m.adapters.map((a) => a.stage), ...m.evals.map((e) => e.stage), ...m.compositions.map((c) => c.stage), ...m.datasets.map((d) => d.stage)];
  return `<header>
<h1>peftmake report: ${esc(m.title)}</h1>
${m.description ? `<p>${esc(m.description)}</p>` : ''}
${
  m.running
    ? `<p class="building" data-running="${m.running.pid}">A build is running (${esc(m.running.command)}, pid ${m.running.pid} on ${esc(m.running.host)}, since ${esc(m.running.startedAt.replace('T', ' ').slice(0, 19))} UTC)${live ? '; this page reloads while it runs' : ''}.</p>`
    : ''
}
<p class="muted">${esc(m.pipelineFile)} · generated ${esc(m.generatedAt.replace('T', ' ').slice(0, 19))} UTC · ${counts.fresh} of ${counts.total} stages fresh</p>
</header>
${
  m.problems.length
    ? `<p class="problems" data-problems="${m.problems.length}"><b>Some artifacts could not be read</b>; the rest of the report is shown.<br>${m.problems.map((x) => `${esc(x.stage)}: ${esc(x.message)}`).join('<br>')}</p>`
    : ''
}
<nav>${nav.map((s) => `<a href="#${esc(anchor(s))}">${esc(s)}</a>`).join('')}</nav>
<main>
<h2 id="pipeline">Pipeline</h2>
<p class="legend-states"><span><i style="background:#dafbe1;border-color:#1a7f37"></i>fresh</span><span><i style="background:#fff8c5;border-color:#bf8700"></i>stale (a build would run or restore it)</span><span><i style="background:#ffebe9;border-color:#cf222e"></i>cannot be planned</span><span><i style="border-style:dashed"></i>pinned</span></p>
<div class="graph-wrap">${pipelineGraph(m.graph)}</div>
${m.adapters.length ? `<h1 class="part">Adapters</h1>${m.adapters.map(adapterSection).join('\n')}` : ''}
${m.evals.length ? `<h1 class="part">Evals</h1>${m.evals.map(evalSection).join('\n')}` : ''}
${m.compositions.length ? `<h1 class="part">Compositions</h1>${m.compositions.map(compositionSection).join('\n')}` : ''}
${m.datasets.length ? `<h1 class="part">Datasets</h1>${m.datasets.map((d) => datasetSection(d, anchor(d.stage))).join('\n')}` : ''}
${othersTable(m)}
${extra}
</main>`;
}

export interface RenderOptions {
  /** While a build runs, reload the page every this many seconds (a server's live view); 0: never. */
  refreshSeconds?: number;
  /** Reload every this many seconds even with no build running (a dashboard with live numbers); 0: never. */
  idleRefreshSeconds?: number;
  /** More sections (trusted HTML) at the end of the page, e.g. serve's inference section. */
  extraSections?: string;
}

export function renderReportHtml(m: ReportModel, opts: RenderOptions = {}): string {
  const every = m.running ? opts.refreshSeconds : opts.idleRefreshSeconds;
  const refresh = every ? `\n<meta http-equiv="refresh" content="${Math.max(1, Math.round(every))}">` : '';
  return documentHtml(`peftmake report: ${m.title}`, reportBody(m, Boolean(m.running && opts.refreshSeconds), opts.extraSections ?? ''), refresh);
}
