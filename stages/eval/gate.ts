// The eval gate: a composition whose held-out perplexity rose more than `maxPerplexityIncrease` (relative) over the
// previous eval, or whose exact match fell below `minExactMatch`, regresses; the previous version is to stay current.
import type { UpstreamArtifact } from '../../src/stage.ts';

export interface GateConfig {
  maxPerplexityIncrease?: number; // 0: no perplexity gate
  minExactMatch?: number; // 0: no exact-match gate
}

export interface GateRow {
  subject: string;
  kind: string;
  dataset: string;
  perplexity?: number;
  exact_match?: number;
}

export interface GateResult {
  passed: boolean;
  regressions: { composition: string; dataset: string; metric: string; previous: number | null; current: number; limit: number }[];
  /** Compositions to keep at the key the previous eval saw (stage name -> key). */
  keep: Record<string, string>;
  messages: string[];
}

export function checkGate(
  gate: GateConfig,
  rows: GateRow[],
  previousRows: GateRow[] | undefined,
  upstream: Record<string, UpstreamArtifact>,
  compositions: string[],
  previousUpstream?: Record<string, string>,
): GateResult {
  const res: GateResult = { passed: true, regressions: [], keep: {}, messages: [] };
  const maxRise = gate.maxPerplexityIncrease ?? 0;
  const minEm = gate.minExactMatch ?? 0;
  for (const name of compositions) {
    for (const r of rows.filter((x) => x.kind === 'composition' && x.subject === name)) {
      const prev = previousRows?.find((p) => p.kind === 'composition' && p.subject === name && p.dataset === r.dataset);
      if (maxRise > 0 && r.perplexity !== undefined && prev?.perplexity !== undefined && r.perplexity > prev.perplexity * (1 + maxRise))
        res.regressions.push({ composition: name, dataset: r.dataset, metric: 'perplexity', previous: prev.perplexity, current: r.perplexity, limit: prev.perplexity * (1 + maxRise) });
      if (minEm > 0 && r.exact_match !== undefined && r.exact_match < minEm)
        res.regressions.push({ composition: name, dataset: r.dataset, metric: 'exact_match', previous: prev?.exact_match ?? null, current: r.exact_match, limit: minEm });
    }
  }
  for (const g of res.regressions) {
    const stage = `compositions.${g.composition}`;
    const cur = upstream[stage];
    const prevKey = previousUpstream?.[stage];
    const what =
      g.metric === 'perplexity'
        ? `${stage} v${cur?.version ?? '?'}: ${g.dataset} perplexity ${g.current.toFixed(3)} is ${(100 * (g.current / g.previous! - 1)).toFixed(1)}% above the previous ${g.previous!.toFixed(3)} (allowed +${(100 * maxRise).toFixed(1)}%)`
        : `${stage} v${cur?.version ?? '?'}: ${g.dataset} exact match ${g.current.toFixed(3)} is below the gate's ${g.limit}`;
    if (prevKey && cur && prevKey !== cur.key) {
      res.keep[stage] = prevKey;
      res.messages.push(`gate: ${what}; keeping the previous version (${prevKey.slice(0, 12)}) current`);
    } else res.messages.push(`gate: ${what}; no earlier version to keep`);
  }
  res.passed = res.regressions.length === 0;
  if (res.passed && (maxRise > 0 || minEm > 0)) res.messages.push('gate: passed');
  return res;
}
