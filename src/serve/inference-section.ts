// The dashboard's inference section (HTML, no script): per model the requests, tokens, latency percentiles and tokens/s
// since the server started, and over time (requests, p50/p99 latency, generated tokens/s per time bucket) as SVG charts
// drawn with the report's chart code.
import { esc, fmt } from '../report/html/escape.ts';
import { versionColor } from '../report/html/colors.ts';
import { lineChart, type Series } from '../report/svg/line-chart.ts';
import { percentile, type InferenceTimeline, type ModelHistory } from './timeline.ts';

const ms = (s: number) => (Number.isFinite(s) ? (s * 1000).toFixed(1) : '–');

function row(h: ModelHistory): string {
  const tps = h.seconds > 0 ? h.tokensOut / h.seconds : Number.NaN;
  return `<tr data-model="${esc(h.model)}" data-requests="${h.requests}" data-tokens-out="${h.tokensOut}"><td>${esc(h.model)}</td><td class="num">${h.requests}</td><td class="num">${h.tokensIn}</td><td class="num">${h.tokensOut}</td><td class="num">${ms(percentile(h.latencies, 0.5))}</td><td class="num">${ms(percentile(h.latencies, 0.95))}</td><td class="num">${ms(percentile(h.latencies, 0.99))}</td><td class="num">${ms(percentile(h.ttfts, 0.5))}</td><td class="num">${ms(percentile(h.ttfts, 0.99))}</td><td class="num">${Number.isFinite(tps) ? esc(fmt(tps, 3)) : '–'}</td></tr>`;
}

export function inferenceSection(t: InferenceTimeline, now = Date.now()): string {
  const hs = t.histories();
  const since = new Date(t.started).toISOString().replace('T', ' ').slice(0, 19);
  const head = `<h1 class="part" id="inference">Inference</h1><p class="muted">Requests this server answered since ${esc(since)} UTC (uptime ${Math.round((now - t.started) / 1000)} s), by model; time buckets of ${t.bucketMs / 1000} s.</p>`;
  if (!hs.length) return `<section class="stage" data-section="inference">${head}<p class="muted" data-requests="0">No generation request yet.</p></section>`;
  const table = `<table class="data" data-table="inference"><thead><tr><th>model</th><th class="num">requests</th><th class="num">prompt tokens</th><th class="num">generated tokens</th><th class="num">latency p50 ms</th><th class="num">p95 ms</th><th class="num">p99 ms</th><th class="num">first token p50 ms</th><th class="num">p99 ms</th><th class="num">tokens/s per request</th></tr></thead><tbody>${hs.map(row).join('')}</tbody></table>`;
  const x = (start: number) => (start - t.started) / 1000;
  const series = (f: (b: ModelHistory['buckets'][number]) => number, dashed = false, suffix = ''): Series[] =>
    hs.map((h, i) => ({
      label: `${h.model}${suffix}`,
      color: versionColor(i),
      dashed,
      radius: 2.5,
      data: { model: h.model },
      points: h.buckets.map((b) => ({ x: x(b.start), y: f(b) })),
    }));
  const charts = `<div class="charts">
${lineChart({ id: 'inference/requests', title: 'requests per time bucket', xLabel: 'seconds since start', yLabel: 'requests', series: series((b) => b.requests), width: 560, height: 220 })}
${lineChart({ id: 'inference/latency', title: 'request latency p50 (solid) and p99 (dashed)', xLabel: 'seconds since start', yLabel: 'ms', series: [...series((b) => percentile(b.latencies, 0.5) * 1000, false, ' p50'), ...series((b) => percentile(b.latencies, 0.99) * 1000, true, ' p99')], width: 560, height: 220 })}
${lineChart({ id: 'inference/tokens-per-s', title: 'generated tokens per second', xLabel: 'seconds since start', yLabel: 'tokens/s', series: series((b) => b.tokensOut / (t.bucketMs / 1000)), width: 560, height: 220 })}
</div>`;
  return `<section class="stage" data-section="inference">${head}${table}${charts}</section>`;
}
