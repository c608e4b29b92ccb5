// Collects one dataset artifact for the report: sources, what each step removed and why, PII, token lengths, samples.
import type { StoreLayout } from '../store/layout.ts';
import { hasObject } from '../store/objects.ts';
import { readRef } from '../store/refs.ts';
import type { DatasetView } from './model.ts';
import { readArtifactJson, readSamples } from './read-artifacts.ts';

interface StatsFile {
  format?: string;
  sources?: { split?: string; files?: { file: string; records: number; bytes: number }[] }[];
  steps?: DatasetView['steps'];
  pii?: DatasetView['pii'];
  lengths?: DatasetView['lengths'];
  output?: Record<string, unknown>;
}

/** The dataset view of `stage` at `key` (any version still in the store), or undefined when it is gone. */
export function collectDataset(layout: StoreLayout, stage: string, key: string): DatasetView | undefined {
  if (!hasObject(layout, key)) return undefined;
  const dir = layout.object(key);
  const stats = readArtifactJson<StatsFile>(dir, 'stats.json');
  if (!stats) return undefined;
  const version = readRef(layout, stage)?.versions.find((v) => v.key === key)?.version ?? 0;
  return {
    stage,
    version,
    key,
    format: stats.format ?? '?',
    sources: (stats.sources ?? []).flatMap((s) => s.files ?? []),
    steps: stats.steps ?? [],
    pii: stats.pii ?? null,
    lengths: stats.lengths ?? {},
    output: stats.output ?? {},
    samples: readSamples(dir),
  };
}
