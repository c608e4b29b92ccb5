// The pipeline as an SVG graph: stages in columns by depth (longest path from a source), arrows from each upstream
// stage to its dependents, each node colored by what a build would do and linking to the stage's section.
import type { GraphNode } from '../model.ts';
import { anchor, esc } from '../html/escape.ts';

const NW = 182; // node width
const NH = 46; // node height
const GX = 34; // gap between columns
const GY = 16; // gap between rows

const STATE_TEXT: Record<GraphNode['state'], string> = {
  fresh: 'fresh',
  stale: 'would build',
  restore: 'would restore',
  failed: 'cannot plan',
  blocked: 'blocked',
};

/** Column of each node: 0 for stages without upstream, else 1 + the deepest upstream. */
export function depths(nodes: GraphNode[]): Map<string, number> {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const d = new Map<string, number>();
  const visit = (n: string, seen: Set<string>): number => {
    if (d.has(n)) return d.get(n)!;
    if (seen.has(n)) return 0; // a cycle cannot reach here (the config rejects it); stay finite anyway
    seen.add(n);
    const ups = (byName.get(n)?.upstream ?? []).filter((u) => byName.has(u));
    const v = ups.length ? 1 + Math.max(...ups.map((u) => visit(u, seen))) : 0;
    d.set(n, v);
    return v;
  };
  for (const n of nodes) visit(n.name, new Set());
  return d;
}

export function pipelineGraph(nodes: GraphNode[]): string {
  const d = depths(nodes);
  const cols: GraphNode[][] = [];
  for (const n of nodes) (cols[d.get(n.name)!] ??= []).push(n);
  const pos = new Map<string, { x: number; y: number }>();
  cols.forEach((col, c) => col.forEach((n, r) => pos.set(n.name, { x: 10 + c * (NW + GX), y: 10 + r * (NH + GY) })));
  const W = 20 + cols.length * (NW + GX) - GX;
  const H = 20 + Math.max(1, ...cols.map((c) => c.length)) * (NH + GY) - GY;
  const parts = [
    `<svg class="graph" data-chart="pipeline" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="pipeline graph" xmlns="http://www.w3.org/2000/svg">`,
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="#6e7781"/></marker></defs>',
  ];
  for (const n of nodes) {
    const to = pos.get(n.name)!;
    for (const u of n.upstream) {
      const from = pos.get(u);
      if (!from) continue;
      const x1 = from.x + NW;
      const y1 = from.y + NH / 2;
      const x2 = to.x - 2;
      const y2 = to.y + NH / 2;
      const mx = (x1 + x2) / 2;
      parts.push(
        `<path class="edge" data-from="${esc(u)}" data-to="${esc(n.name)}" d="M${x1} ${y1}C${mx} ${y1} ${mx} ${y2} ${x2} ${y2}" marker-end="url(#arrow)"/>`,
      );
    }
  }
  for (const n of nodes) {
    const p = pos.get(n.name)!;
    const state = n.heldBack ? 'pinned, inputs moved on' : STATE_TEXT[n.state];
    const sub = `${n.kind}${n.version ? ` · v${n.version}` : ''}${n.pinned ? ' · pinned' : ''}`;
    const tip = [`${n.name} (${n.kind})`, state, ...n.reasons].join('\n');
    parts.push(
      `<a href="#${esc(anchor(n.name))}"><g class="node state-${n.state}${n.pinned ? ' pinned' : ''}" data-stage="${esc(n.name)}" data-kind="${esc(n.kind)}" data-state="${n.state}"><title>${esc(tip)}</title>` +
        `<rect x="${p.x}" y="${p.y}" width="${NW}" height="${NH}" rx="6"/>` +
        `<text class="name" x="${p.x + 8}" y="${p.y + 18}">${esc(n.name)}</text>` +
        `<text class="sub" x="${p.x + 8}" y="${p.y + 35}">${esc(sub)} · ${esc(state)}</text></g></a>`,
    );
  }
  parts.push('</svg>');
  return parts.join('');
}
