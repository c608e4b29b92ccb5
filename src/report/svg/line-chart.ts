// A line chart as plain SVG (no script): axes with nice ticks, one polyline per series, every point a <circle>
// carrying data-x / data-y (and a <title> tooltip), optional markers (e.g. gate decisions) and a legend.
import { esc } from '../html/escape.ts';
import { linear, niceTicks, tickLabel } from './scale.ts';

export interface ChartPoint {
  x: number;
  y: number;
  /** Tooltip text; defaults to `x, y`. */
  title?: string;
}

export interface Series {
  label: string;
  color: string;
  points: ChartPoint[];
  width?: number; // stroke width (current version thicker)
  dashed?: boolean;
  /** Point radius (0: points are still emitted, invisible, for tests and tooltips). */
  radius?: number;
  /** Extra data-* attributes on the series group, e.g. { version: 3, curve: 'train' }. */
  data?: Record<string, string | number>;
}

export interface Marker {
  x: number;
  y: number;
  label: string;
  kind: 'pass' | 'fail' | 'info';
}

export interface LineChartSpec {
  id: string; // data-chart attribute
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  markers?: Marker[];
  /** Integer x values only (e.g. versions): ticks at integers. */
  integerX?: boolean;
  width?: number;
  height?: number;
}

const M = { left: 58, right: 16, top: 28, bottom: 40 };

const dataAttrs = (d: Record<string, string | number> = {}): string =>
  Object.entries(d)
    .map(([k, v]) => ` data-${k}="${esc(v)}"`)
    .join('');

const finite = (p: ChartPoint) => Number.isFinite(p.x) && Number.isFinite(p.y);

export function lineChart(spec: LineChartSpec): string {
  const W = spec.width ?? 640;
  const H = spec.height ?? 260;
  const all = [...spec.series.flatMap((s) => s.points.filter(finite)), ...(spec.markers ?? [])];
  const head = `<svg class="chart" data-chart="${esc(spec.id)}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(spec.title)}" xmlns="http://www.w3.org/2000/svg">`;
  const title = `<text class="chart-title" x="${M.left}" y="16">${esc(spec.title)}</text>`;
  if (!all.length) return `${head}${title}<text class="empty" x="${W / 2}" y="${H / 2}" text-anchor="middle">no data</text></svg>`;
  const xs = all.map((p) => p.x);
  const ys = all.map((p) => p.y);
  let xt = niceTicks(Math.min(...xs), Math.max(...xs), 6);
  if (spec.integerX) xt = xt.filter((t) => Number.isInteger(t));
  const yt = niceTicks(Math.min(...ys), Math.max(...ys), 5);
  const x0 = Math.min(xt[0] ?? 0, ...xs);
  const x1 = Math.max(xt[xt.length - 1] ?? 1, ...xs);
  const y0 = yt[0];
  const y1 = yt[yt.length - 1];
  const sx = linear(x0, x1, M.left, W - M.right);
  const sy = linear(y0, y1, H - M.bottom, M.top);
  const r = (v: number) => Number(v.toFixed(2));
  const parts: string[] = [head, title];
  parts.push('<g class="axis">');
  for (const t of yt)
    parts.push(
      `<line class="grid" x1="${M.left}" x2="${W - M.right}" y1="${r(sy(t))}" y2="${r(sy(t))}"/><text x="${M.left - 6}" y="${r(sy(t)) + 4}" text-anchor="end">${tickLabel(t)}</text>`,
    );
  for (const t of xt)
    parts.push(
      `<line class="tick" x1="${r(sx(t))}" x2="${r(sx(t))}" y1="${H - M.bottom}" y2="${H - M.bottom + 4}"/><text x="${r(sx(t))}" y="${H - M.bottom + 16}" text-anchor="middle">${tickLabel(t)}</text>`,
    );
  parts.push(
    `<line class="frame" x1="${M.left}" x2="${W - M.right}" y1="${H - M.bottom}" y2="${H - M.bottom}"/><line class="frame" x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${H - M.bottom}"/>`,
  );
  parts.push(`<text class="axis-label" x="${(M.left + W - M.right) / 2}" y="${H - 6}" text-anchor="middle">${esc(spec.xLabel)}</text>`);
  parts.push(
    `<text class="axis-label" transform="translate(14 ${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(spec.yLabel)}</text></g>`,
  );
  for (const s of spec.series) {
    const pts = s.points.filter(finite);
    const rad = s.radius ?? 1.6;
    parts.push(`<g class="series" data-series="${esc(s.label)}"${dataAttrs(s.data)}>`);
    if (pts.length > 1)
      parts.push(
        `<polyline fill="none" stroke="${esc(s.color)}" stroke-width="${s.width ?? 1.5}"${s.dashed ? ' stroke-dasharray="5 3"' : ''} points="${pts.map((p) => `${r(sx(p.x))},${r(sy(p.y))}`).join(' ')}"/>`,
      );
    for (const p of pts)
      parts.push(
        `<circle class="pt" cx="${r(sx(p.x))}" cy="${r(sy(p.y))}" r="${rad}" fill="${esc(s.color)}" data-x="${p.x}" data-y="${p.y}"><title>${esc(p.title ?? `${s.label}: ${tickLabel(p.x)}, ${p.y}`)}</title></circle>`,
      );
    parts.push('</g>');
  }
  for (const m of spec.markers ?? []) {
    const cx = r(sx(m.x));
    const cy = r(sy(m.y));
    const shape =
      m.kind === 'fail'
        ? `<path d="M${cx - 5} ${cy - 5}L${cx + 5} ${cy + 5}M${cx - 5} ${cy + 5}L${cx + 5} ${cy - 5}"/>`
        : m.kind === 'pass'
          ? `<circle cx="${cx}" cy="${cy}" r="5"/>`
          : `<rect x="${cx - 4}" y="${cy - 4}" width="8" height="8"/>`;
    parts.push(`<g class="marker marker-${m.kind}" data-marker="${m.kind}" data-x="${m.x}" data-y="${m.y}">${shape}<title>${esc(m.label)}</title></g>`);
  }
  // legend, top right
  let ly = M.top + 4;
  parts.push('<g class="legend">');
  for (const s of spec.series) {
    const lx = W - M.right - 150;
    parts.push(
      `<line x1="${lx}" x2="${lx + 18}" y1="${ly}" y2="${ly}" stroke="${esc(s.color)}" stroke-width="${Math.max(2, s.width ?? 1.5)}"${s.dashed ? ' stroke-dasharray="4 2"' : ''}/><text x="${lx + 24}" y="${ly + 4}">${esc(s.label)}</text>`,
    );
    ly += 14;
  }
  parts.push('</g></svg>');
  return parts.join('');
}
