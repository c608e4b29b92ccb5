// The HTML of an eval: its table (numbers as metrics.json has them in data-value, shown as the eval prints them),
// each composition metric across the eval runs with the gate's decisions marked, and the runs with their verdicts.
import type { EvalRun, EvalSection } from '../model.ts';
import { lineChart, type Marker } from '../svg/line-chart.ts';
import { anchor, esc, fmt } from './escape.ts';

const PCT = new Set(['exact_match', 'f1']);
const SHORT: Record<string, string> = { perplexity: 'ppl', exact_match: 'EM', f1: 'F1' };

export function evalTable(e: EvalSection): string {
  const cols = e.datasets.flatMap((d) => e.metrics.filter((m) => m === 'perplexity' || d.qa).map((m) => ({ dataset: d.name, metric: m })));
  const subjects = [...new Map(e.rows.map((r) => [r.subject, r.kind])).entries()];
  const label = (s: string, kind: string) => (kind === 'composition' ? `${s} (composition)` : kind === 'adapter' ? `+ ${s}` : s);
  const cell = (subject: string, c: { dataset: string; metric: string }) => {
    const r = e.rows.find((x) => x.subject === subject && x.dataset === c.dataset);
    const v = r?.[c.metric as keyof typeof r];
    if (typeof v !== 'number') return `<td class="num" data-subject="${esc(subject)}" data-dataset="${esc(c.dataset)}" data-metric="${esc(c.metric)}">–</td>`;
    const shown = PCT.has(c.metric) ? (100 * v).toFixed(1) : v.toFixed(3);
    return `<td class="num" data-subject="${esc(subject)}" data-dataset="${esc(c.dataset)}" data-metric="${esc(c.metric)}" data-value="${v}">${shown}</td>`;
  };
  return `<table class="data eval" data-table="eval" data-stage="${esc(e.stage)}"><thead><tr><th>model</th>${cols
    .map((c) => `<th class="num">${esc(c.dataset)} ${esc(SHORT[c.metric] ?? c.metric)}${PCT.has(c.metric) ? ' %' : ''}</th>`)
    .join('')}</tr></thead><tbody>${subjects
    .map(([s, kind]) => `<tr data-subject="${esc(s)}" class="kind-${esc(kind)}"><td>${esc(label(s, kind))}</td>${cols.map((c) => cell(s, c)).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

/** One chart per composition metric (`assistant/qa/perplexity`) over the eval runs, with gate verdicts as markers. */
export function metricCharts(e: EvalSection): string {
  const keys = [...new Set(e.runs.flatMap((r) => Object.keys(r.metrics)))].filter((k) => {
    const [subject] = k.split('/');
    return k.split('/').length === 3 && e.runs.some((r) => Object.keys(r.compositions).includes(`compositions.${subject}`));
  });
  if (!keys.length) return '';
  const charts = keys.map((k) => {
    const [comp, dataset, metric] = k.split('/');
    const stage = `compositions.${comp}`;
    const runs = e.runs.filter((r) => typeof r.metrics[k] === 'number');
    const point = (r: EvalRun) => ({
      x: r.version,
      y: r.metrics[k] as number,
      title: `${e.stage} v${r.version} scored ${stage} v${r.compositions[stage] ?? '?'}: ${dataset} ${metric} ${fmt(r.metrics[k])}`,
    });
    const markers: Marker[] = runs
      .filter((r) => r.gate && (r.gate.messages.length || r.gate.regressions.length))
      .map((r) => {
        const failed = r.gate!.regressions.some((g) => g.composition === comp && g.dataset === dataset && g.metric === metric);
        const msg = r.gate!.messages.find((m) => m.includes(stage)) ?? r.gate!.messages.join('; ');
        return {
          x: r.version,
          y: r.metrics[k] as number,
          kind: failed ? 'fail' : 'pass',
          label: `${e.stage} v${r.version}: ${msg || (failed ? 'regressed' : 'gate passed')}`,
        };
      });
    return lineChart({
      id: `${e.stage}/${k}`,
      title: `${comp} · ${dataset} ${SHORT[metric] ?? metric}`,
      xLabel: 'eval run (version)',
      yLabel: metric,
      integerX: true,
      width: 360,
      height: 200,
      series: [{ label: k, color: '#0969da', width: 2, radius: 3, data: { metric: k }, points: runs.map(point) }],
      markers,
    });
  });
  return `<div class="charts">${charts.join('\n')}</div>`;
}

function runsTable(e: EvalSection): string {
  return `<table class="data" data-table="eval-runs"><thead><tr><th>run</th><th>created</th><th>scored</th><th>gate</th></tr></thead><tbody>${[...e.runs]
    .reverse()
    .map((r) => {
      const scored = Object.entries(r.compositions)
        .map(([s, v]) => `<a href="#${esc(anchor(s))}">${esc(s)}</a> ${v ? `v${v}` : '?'}`)
        .join(', ');
      const gate = r.gate
        ? r.gate.passed
          ? `<span class="ok">passed</span>`
          : `<span class="bad">regressed</span>: ${esc(r.gate.messages.join('; '))}`
        : r.metrics.gate_passed === false
          ? '<span class="bad">regressed</span>'
          : '<span class="muted">–</span>';
      return `<tr data-version="${r.version}"${r.current ? ' class="current"' : ''}><td>v${r.version}${r.current ? ' <b>current</b>' : ''}</td><td>${esc(r.createdAt.replace('T', ' ').slice(0, 19))}</td><td>${scored}</td><td data-gate="${r.gate ? (r.gate.passed ? 'passed' : 'regressed') : ''}">${gate}</td></tr>`;
    })
    .join('')}</tbody></table>`;
}

export function evalSection(e: EvalSection): string {
  const gate = e.gateConfig
    ? `gate: ${Object.entries(e.gateConfig)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`
    : 'no gate';
  return `<section class="stage" id="${esc(anchor(e.stage))}" data-stage="${esc(e.stage)}">
<h2>${esc(e.stage)} ${e.current ? `<span class="badge">v${e.current}</span>` : ''}</h2>
${e.error ? `<p class="bad" data-error>${esc(e.error)}</p>` : ''}
${e.rows.length ? `${evalTable(e)}<p class="muted">Perplexity is on the held-out split (lower is better); EM and F1 in percent. ${esc(gate)}.</p>` : '<p class="muted">not built yet: run `peftmake build`</p>'}
${metricCharts(e)}
${e.runs.length ? `<h3>Runs</h3>${runsTable(e)}` : ''}
</section>`;
}
