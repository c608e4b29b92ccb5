// A small line plot for the terminal (`peftmake log --plot`): Unicode braille dots (2×4 per character cell) for a
// line series, single characters for point markers, min / max labels on the y axis and the x range below.

export interface PlotSeries {
  points: { x: number; y: number }[];
  /** A line through the points (braille), or each point as this character. */
  mark?: string;
}

const BIT = [
  [0x01, 0x08],
  [0x02, 0x10],
  [0x04, 0x20],
  [0x40, 0x80],
]; // [dot row within the cell][dot column]

const label = (v: number) => {
  const a = Math.abs(v);
  return a !== 0 && (a >= 1e5 || a < 1e-3) ? v.toExponential(2) : String(Number(v.toPrecision(4)));
};

/** Plot lines (no trailing newline). `width` and `height` are in character cells of the plotting area. */
export function terminalPlot(series: PlotSeries[], opts: { width?: number; height?: number; xLabel?: string } = {}): string[] {
  const W = Math.max(8, opts.width ?? 60);
  const H = Math.max(3, opts.height ?? 10);
  const pts = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  if (!pts.length) return ['(no points to plot)'];
  const xMin = Math.min(...pts.map((p) => p.x));
  const xMax = Math.max(...pts.map((p) => p.x));
  let yMin = Math.min(...pts.map((p) => p.y));
  let yMax = Math.max(...pts.map((p) => p.y));
  if (yMin === yMax) {
    yMin -= 0.5;
    yMax += 0.5;
  }
  const DW = W * 2;
  const DH = H * 4;
  const dx = (x: number) => (xMax === xMin ? 0 : Math.round(((x - xMin) / (xMax - xMin)) * (DW - 1)));
  const dy = (y: number) => Math.round(((yMax - y) / (yMax - yMin)) * (DH - 1)); // 0 = top
  const dots = Array.from({ length: H }, () => new Array<number>(W).fill(0));
  const chars = Array.from({ length: H }, () => new Array<string | undefined>(W).fill(undefined));
  const set = (x: number, y: number) => {
    dots[y >> 2][x >> 1] |= BIT[y & 3][x & 1];
  };
  for (const s of series) {
    const ps = s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
    if (s.mark) {
      for (const p of ps) chars[dy(p.y) >> 2][dx(p.x) >> 1] = s.mark;
      continue;
    }
    for (let i = 0; i < ps.length; i++) {
      const x1 = dx(ps[i].x);
      const y1 = dy(ps[i].y);
      if (i === 0) {
        set(x1, y1);
        continue;
      }
      const x0 = dx(ps[i - 1].x);
      const y0 = dy(ps[i - 1].y);
      const n = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1);
      for (let k = 0; k <= n; k++) set(Math.round(x0 + ((x1 - x0) * k) / n), Math.round(y0 + ((y1 - y0) * k) / n));
    }
  }
  const top = label(yMax);
  const bottom = label(yMin);
  const pad = Math.max(top.length, bottom.length);
  const rows = dots.map((row, r) => {
    const y = r === 0 ? top : r === H - 1 ? bottom : '';
    return `${y.padStart(pad)} ┤${row.map((bits, c) => chars[r][c] ?? String.fromCharCode(0x2800 + bits)).join('')}`;
  });
  const xl = label(xMin);
  const xr = label(xMax);
  const axis = `${' '.repeat(pad)} └${'─'.repeat(W)}`;
  const under = `${' '.repeat(pad + 2)}${xl}${' '.repeat(Math.max(1, W - xl.length - xr.length))}${xr}`;
  return [...rows, axis, opts.xLabel ? `${under}  ${opts.xLabel}` : under];
}
