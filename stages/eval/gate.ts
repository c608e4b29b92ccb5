// The eval gate: a composition whose held-out perplexity rose more than `maxPerplexityIncrease` (relative) over the
// previous version on the same held-out data, or whose exact match fell below `minExactMatch`, regresses; the previous
// version is to stay current. Comparisons that could not be made are said plainly.
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

/** The previous version's perplexity on the held-out data this eval scored. */
export interface Baseline {
  composition: string;
  dataset: string;
  key: string; // the previous version's key
  perplexity: number;
  /** Set when the previous version was scored again on the current data, saying why (the data changed, ...). */
  rescored?: string;
}

/** A comparison the gate could not make, and why. */
export interface Uncompared {
  composition: string;
  dataset: string;
  key: string;
  reason: string;
}

export interface GateResult {
  passed: boolean;
  regressions: { composition: string; dataset: string; metric: string; previous: number | null; current: number; limit: number; rescored?: string }[];
  /** Compositions to keep at the key the previous eval saw (stage name -> key). */
  keep: Record<string, string>;
  baselines: Baseline[];
  uncompared: Uncompared[];
  messages: string[];
}

export function checkGate(
  gate: GateConfig,
  rows: GateRow[],
  baselines: Baseline[],
  upstream: Record<string, UpstreamArtifact>,
  compositions: string[],
  previousUpstream?: Record<string, string>,
  uncompared: Uncompared[] = [],
): GateResult {
  const res: GateResult = { passed: true, regressions: [], keep: {}, baselines, uncompared, messages: [] };
  const maxRise = gate.maxPerplexityIncrease ?? 0;
  const minEm = gate.minExactMatch ?? 0;
  for (const name of compositions) {
    for (const r of rows.filter((x) => x.kind === 'composition' && x.subject === name)) {
      const prev = baselines.find((b) => b.composition === name && b.dataset === r.dataset);
      if (maxRise > 0 && r.perplexity !== undefined && prev && r.perplexity > prev.perplexity * (1 + maxRise))
        res.regressions.push({
          composition: name,
          dataset: r.dataset,
          metric: 'perplexity',
          previous: prev.perplexity,
          current: r.perplexity,
          limit: prev.perplexity * (1 + maxRise),
          ...(prev.rescored ? { rescored: prev.rescored } : {}),
        });
      if (minEm > 0 && r.exact_match !== undefined && r.exact_match < minEm)
        res.regressions.push({ composition: name, dataset: r.dataset, metric: 'exact_match', previous: null, current: r.exact_match, limit: minEm });
    }
  }
  for (const g of res.regressions) {
    const stage = `compositions.${g.composition}`;
    const cur = upstream[stage];
    const prevKey = previousUpstream?.[stage];
    const against = () =>
      g.rescored
        ? `the previous version's ${g.previous!.toFixed(3)}, scored again on the current held-out data because ${g.rescored}`
        : `the previous ${g.previous!.toFixed(3)}`;
    const what =
      g.metric === 'perplexity'
        ? `${stage} v${cur?.version ?? '?'}: ${g.dataset} perplexity ${g.current.toFixed(3)} is ${(100 * (g.current / g.previous! - 1)).toFixed(1)}% above ${against()} (allowed +${(100 * maxRise).toFixed(1)}%)`
        : `${stage} v${cur?.version ?? '?'}: ${g.dataset} exact match ${g.current.toFixed(3)} is below the gate's ${g.limit}`;
    if (prevKey && cur && prevKey !== cur.key) {
      res.keep[stage] = prevKey;
      res.messages.push(`gate: ${what}; keeping the previous version (${prevKey.slice(0, 12)}) current`);
    } else res.messages.push(`gate: ${what}; no earlier version to keep`);
  }
  for (const u of uncompared)
    res.messages.push(
      `gate: cannot compare compositions.${u.composition} with its previous version (${u.key.slice(0, 12)}) on ${u.dataset}: ${u.reason}; its perplexity there is not gated`,
    );
  res.passed = res.regressions.length === 0;
  if (res.passed && (maxRise > 0 || minEm > 0)) res.messages.push(uncompared.length ? 'gate: passed where it could compare' : 'gate: passed');
  return res;
}
