// Collects an eval stage for the report: the current table (metrics.json rows) and every run in the history with
// the composition versions it scored and what its gate decided.
import type { StoreLayout } from '../store/layout.ts';
import { hasObject, readManifest } from '../store/objects.ts';
import { readRef } from '../store/refs.ts';
import type { EvalRow, EvalRun, EvalSection } from './model.ts';
import { readArtifactJson } from './read-artifacts.ts';

interface EvalMetricsFile {
  rows?: EvalRow[];
  gate?: EvalRun['gate'];
}

interface EvalConfig {
  datasets?: string[];
  compositions?: string[];
  metrics?: string[];
  gate?: Record<string, unknown>;
}

export function collectEval(layout: StoreLayout, stage: string, config: EvalConfig): EvalSection {
  const ref = readRef(layout, stage);
  const runs: EvalRun[] = (ref?.versions ?? []).map((v) => {
    const inStore = hasObject(layout, v.key);
    const manifest = inStore ? readManifest(layout, v.key) : undefined;
    const file = inStore ? readArtifactJson<EvalMetricsFile>(layout.object(v.key), 'metrics.json') : undefined;
    const compositions: Record<string, number | null> = {};
    for (const c of config.compositions ?? []) {
      const s = `compositions.${c}`;
      const key = manifest?.upstream[s];
      compositions[s] = key ? (readRef(layout, s)?.versions.find((x) => x.key === key)?.version ?? null) : null;
    }
    return {
      version: v.version,
      key: v.key,
      createdAt: v.createdAt,
      current: v.version === ref?.current,
      metrics: v.metrics,
      compositions,
      gate: file?.gate ?? null,
    };
  });
  const current = ref
    ? readArtifactJson<EvalMetricsFile>(layout.object(ref.versions.find((v) => v.version === ref.current)?.key ?? ''), 'metrics.json')
    : undefined;
  const rows = current?.rows ?? [];
  const datasets = (config.datasets ?? []).map((name) => ({ name, qa: rows.some((r) => r.dataset === name && r.exact_match !== undefined) }));
  const gate = config.gate && Object.values(config.gate).some((x) => typeof x === 'number' && x > 0) ? config.gate : null;
  return { stage, current: ref?.current ?? 0, datasets, metrics: config.metrics ?? ['perplexity', 'exact_match', 'f1'], rows, gateConfig: gate, runs };
}
