// Two versions of one stage side by side (`peftmake report --compare adapters.task v1 v3`): the diff `peftmake diff`
// computes, both versions' metrics, and per kind the curves overlaid (adapters), both tables (evals), both datasets.
import type { StageKind, UpstreamArtifact } from '../stage.ts';
import { diffVersions, type VersionDiff } from '../store/diff.ts';
import { requireRef, requireVersion, versionManifest } from '../store/history.ts';
import type { StoreLayout } from '../store/layout.ts';
import type { VersionRecord } from '../store/refs.ts';
import { adapterVersion } from './collect-adapter.ts';
import { collectDataset } from './collect-dataset.ts';
import type { AdapterSection, DatasetView, EvalRow } from './model.ts';
import { readArtifactJson } from './read-artifacts.ts';
import { flatten } from '../util/flatten.ts';

export interface CompareModel {
  stage: string;
  kind: string;
  a: { version: number; key: string; createdAt: string };
  b: { version: number; key: string; createdAt: string };
  metrics: { key: string; a: unknown; b: unknown; delta?: number }[];
  diff: VersionDiff;
  /** Adapters: both versions' curves (b drawn first, as "current"). */
  adapter?: AdapterSection;
  /** Evals: both tables. */
  evalRows?: { a: EvalRow[]; b: EvalRow[]; datasets: { name: string; qa: boolean }[]; metrics: string[] };
  /** Datasets: both views. */
  datasets?: { a?: DatasetView; b?: DatasetView };
  generatedAt: string;
}

export async function collectCompare(
  layout: StoreLayout,
  stage: string,
  specA: string,
  specB: string,
  kind?: StageKind,
  now = new Date(),
): Promise<CompareModel> {
  const ref = requireRef(layout, stage);
  const va = requireVersion(ref, specA);
  const vb = requireVersion(ref, specB);
  const art = (v: VersionRecord): UpstreamArtifact => {
    const manifest = versionManifest(layout, stage, v);
    return { name: stage, kind: manifest.kind, key: v.key, version: v.version, dir: layout.object(v.key), manifest };
  };
  const aa = art(va);
  const ab = art(vb);
  const diff = await diffVersions(kind, aa, ab);
  const fa = flatten(aa.manifest.metrics);
  const fb = flatten(ab.manifest.metrics);
  const metrics = [...new Set([...Object.keys(fa), ...Object.keys(fb)])].map((k) => ({
    key: k,
    a: fa[k],
    b: fb[k],
    ...(typeof fa[k] === 'number' && typeof fb[k] === 'number' ? { delta: (fb[k] as number) - (fa[k] as number) } : {}),
  }));
  const model: CompareModel = {
    stage,
    kind: aa.manifest.kind,
    a: { version: va.version, key: va.key, createdAt: va.createdAt },
    b: { version: vb.version, key: vb.key, createdAt: vb.createdAt },
    metrics,
    diff,
    generatedAt: now.toISOString(),
  };
  if (aa.manifest.kind === 'adapter') {
    // the adapter charts draw their first version as "current"; here that is b, with a overlaid
    const shown = { ...ref, current: vb.version };
    model.adapter = {
      stage,
      current: vb.version,
      pinned: false,
      versions: [adapterVersion(layout, shown, vb), adapterVersion(layout, shown, va)],
      collected: [],
      configDiffs: [],
    };
  } else if (aa.manifest.kind === 'eval') {
    const rows = (v: VersionRecord) => readArtifactJson<{ rows?: EvalRow[] }>(layout.object(v.key), 'metrics.json')?.rows ?? [];
    const cfg = (ab.manifest.config ?? {}) as { datasets?: string[]; metrics?: string[] };
    const ra = rows(va);
    const rb = rows(vb);
    const datasets = (cfg.datasets ?? []).map((name) => ({ name, qa: [...ra, ...rb].some((r) => r.dataset === name && r.exact_match !== undefined) }));
    model.evalRows = { a: ra, b: rb, datasets, metrics: cfg.metrics ?? ['perplexity', 'exact_match', 'f1'] };
  } else if (aa.manifest.kind === 'dataset') {
    model.datasets = { a: collectDataset(layout, stage, va.key), b: collectDataset(layout, stage, vb.key) };
  }
  return model;
}
