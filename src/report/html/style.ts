// The report's stylesheet, inlined into the page (nothing is fetched).
export const REPORT_CSS = `
:root { --fg: #1f2328; --muted: #656d76; --line: #d0d7de; --bg: #ffffff; --soft: #f6f8fa; --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --accent: #0969da; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: var(--fg); background: var(--bg); }
header { padding: 16px 24px 8px; border-bottom: 1px solid var(--line); background: var(--soft); }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 2px 0; }
nav { padding: 6px 24px; border-bottom: 1px solid var(--line); font-size: 13px; }
nav a { margin-right: 12px; }
main { padding: 8px 24px 40px; }
h2 { font-size: 18px; margin: 28px 0 8px; padding-top: 8px; border-top: 1px solid var(--line); }
h3 { font-size: 15px; margin: 16px 0 6px; }
h4 { font-size: 13px; margin: 12px 0 4px; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
.muted { color: var(--muted); }
.ok { color: var(--ok); font-weight: 600; }
.bad { color: var(--bad); font-weight: 600; }
.badge { display: inline-block; font-size: 12px; padding: 1px 7px; border-radius: 10px; background: var(--soft); border: 1px solid var(--line); vertical-align: middle; }
.badge.pin { background: #fff8c5; border-color: #d4a72c; color: #7d4e00; }
.problems { background: #ffebe9; border: 1px solid #ff8182; padding: 6px 10px; border-radius: 6px; margin: 8px 24px; }
.building { background: #ffebe9; border: 1px solid #ff8182; padding: 6px 10px; border-radius: 6px; display: inline-block; }
.pin-reason { background: #fff8c5; border: 1px solid #d4a72c; padding: 6px 10px; border-radius: 6px; display: inline-block; }
table.data { border-collapse: collapse; margin: 6px 0 10px; font-size: 13px; }
table.data th, table.data td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
table.data th { background: var(--soft); font-weight: 600; }
table.data .num { text-align: right; font-variant-numeric: tabular-nums; }
table.data tr.current td { background: #ddf4ff; }
table.data tr.event-rollback td { background: #fff8c5; }
table.data td.old { color: var(--bad); }
table.data td.new { color: var(--ok); }
.key { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; }
.charts { display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: flex-start; }
svg.chart, svg.graph { background: var(--bg); max-width: 100%; height: auto; }
svg text { font: 11px system-ui, "DejaVu Sans", sans-serif; fill: var(--fg); }
svg .chart-title { font-size: 13px; font-weight: 600; }
svg .axis-label { fill: var(--muted); }
svg .grid { stroke: #eaeef2; }
svg .tick, svg .frame { stroke: #8c959f; }
svg .empty { fill: var(--muted); }
svg .marker-pass circle { fill: none; stroke: var(--ok); stroke-width: 2; }
svg .marker-fail path { stroke: var(--bad); stroke-width: 3; }
svg .marker-info rect { fill: var(--warn); }
svg.graph .edge { fill: none; stroke: #8c959f; stroke-width: 1.4; }
svg.graph .node rect { fill: #ffffff; stroke: #8c959f; stroke-width: 1.5; }
svg.graph .node.state-fresh rect { fill: #dafbe1; stroke: #1a7f37; }
svg.graph .node.state-stale rect, svg.graph .node.state-restore rect { fill: #fff8c5; stroke: #bf8700; }
svg.graph .node.state-failed rect, svg.graph .node.state-blocked rect { fill: #ffebe9; stroke: #cf222e; }
svg.graph .node.pinned rect { stroke-dasharray: 5 3; stroke-width: 2.2; }
svg.graph .node .name { font-size: 13px; font-weight: 600; }
svg.graph .node .sub { fill: var(--muted); font-size: 10px; }
svg.graph a:hover rect { stroke-width: 3; }
.legend-states span { display: inline-block; margin-right: 14px; }
.legend-states i { display: inline-block; width: 12px; height: 12px; border: 1.5px solid; border-radius: 3px; vertical-align: -2px; margin-right: 4px; }
figure.sample { margin: 6px 0 10px; }
figure.sample figcaption { font-size: 12px; color: var(--muted); }
figure.sample pre { white-space: pre-wrap; word-break: break-word; background: var(--soft); border: 1px solid var(--line); padding: 6px 8px; margin: 2px 0; max-height: 14em; overflow: auto; font-size: 12px; }
mark.loss { background: #aceebb; color: #044f1e; }
details.dataset { margin-top: 10px; }
details.dataset summary { cursor: pointer; font-weight: 600; }
.compare { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
`;
