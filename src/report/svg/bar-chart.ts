// A grouped bar chart as plain SVG (token-length histograms): one group per bucket, one bar per series, each bar a
// <rect> with data-bucket / data-count and a <title>.
import { esc } from '../html/escape.ts';
import { linear, niceTicks, tickLabel } from './scale.ts';

export interface BarSeries {
  label: string;
  color: string;
  values: number[]; // one per bucket
}

export function barChart(spec: {
  id: string;
  title: string;
  buckets: string[];
  series: BarSeries[];
  xLabel: string;
  yLabel: string;
  width?: number;
  height?: number;
}): string {
  const W = spec.width ?? 420;
  const H = spec.height ?? 220;
  const M = { left: 48, right: 12, top: 28, bottom: 40 };
  const max = Math.max(1, ...spec.series.flatMap((s) => s.values));
  const yt = niceTicks(0, max, 4);
  const sy = linear(0, yt[yt.length - 1], H - M.bottom, M.top);
  const gw = (W - M.left - M.right) / Math.max(1, spec.buckets.length);
  const bw = (gw * 0.8) / Math.max(1, spec.series.length);
  const parts = [
    `<svg class="chart" data-chart="${esc(spec.id)}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(spec.title)}" xmlns="http://www.w3.org/2000/svg">`,
    `<text class="chart-title" x="${M.left}" y="16">${esc(spec.title)}</text><g class="axis">`,
  ];
  for (const t of yt)
    parts.push(
      `<line class="grid" x1="${M.left}" x2="${W - M.right}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}"/><text x="${M.left - 6}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end">${tickLabel(t)}</text>`,
    );
  spec.buckets.forEach((b, i) =>
    parts.push(`<text x="${(M.left + gw * (i + 0.5)).toFixed(1)}" y="${H - M.bottom + 14}" text-anchor="middle">${esc(b)}</text>`),
  );
  parts.push(`<text class="axis-label" x="${(M.left + W - M.right) / 2}" y="${H - 6}" text-anchor="middle">${esc(spec.xLabel)}</text>`);
  parts.push(
    `<text class="axis-label" transform="translate(12 ${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(spec.yLabel)}</text></g>`,
  );
  spec.series.forEach((s, j) => {
    parts.push(`<g class="series" data-series="${esc(s.label)}">`);
    s.values.forEach((v, i) => {
      const x = M.left + gw * i + gw * 0.1 + bw * j;
      const y = sy(v);
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${bw.toFixed(1)}" height="${(H - M.bottom - y).toFixed(1)}" fill="${esc(s.color)}" data-bucket="${esc(spec.buckets[i])}" data-count="${v}"><title>${esc(`${s.label} ${spec.buckets[i]}: ${v}`)}</title></rect>`,
      );
    });
    parts.push('</g>');
  });
  let lx = W - M.right - 70 * spec.series.length;
  parts.push('<g class="legend">');
  for (const s of spec.series) {
    parts.push(`<rect x="${lx}" y="${M.top - 4}" width="10" height="10" fill="${esc(s.color)}"/><text x="${lx + 14}" y="${M.top + 5}">${esc(s.label)}</text>`);
    lx += 70;
  }
  parts.push('</g></svg>');
  return parts.join('');
}
