// Formats eval rows as a Markdown table: one line per subject (base, adapters, compositions), per dataset the
// perplexity and, on qa sets, exact match and token F1 in percent.
export interface TableRow {
  subject: string;
  kind: string;
  dataset: string;
  perplexity?: number;
  exact_match?: number;
  f1?: number;
}

export function formatTable(rows: TableRow[], datasets: { name: string; qa: boolean }[], wanted: Set<string>): string {
  const head = ['model'];
  for (const d of datasets) {
    if (wanted.has('perplexity')) head.push(`${d.name} ppl`);
    if (d.qa && wanted.has('exact_match')) head.push(`${d.name} EM`);
    if (d.qa && wanted.has('f1')) head.push(`${d.name} F1`);
  }
  const subjects = [...new Map(rows.map((r) => [r.subject, r.kind])).entries()];
  const body = subjects.map(([s, kind]) => {
    const cells = [kind === 'composition' ? `${s} (composition)` : kind === 'adapter' ? `+ ${s}` : s];
    for (const d of datasets) {
      const r = rows.find((x) => x.subject === s && x.dataset === d.name);
      const f = (v: number | undefined, pct = false) => (v === undefined || Number.isNaN(v) ? '–' : pct ? (100 * v).toFixed(1) : v.toFixed(3));
      if (wanted.has('perplexity')) cells.push(f(r?.perplexity));
      if (d.qa && wanted.has('exact_match')) cells.push(f(r?.exact_match, true));
      if (d.qa && wanted.has('f1')) cells.push(f(r?.f1, true));
    }
    return cells;
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  return [line(head), `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|')}|`, ...body.map(line)].join('\n');
}
