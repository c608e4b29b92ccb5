// Collects an adapter stage for the report: the current version and the earlier ones still in the store, each with
// its training / validation curves, the config changes between them, and the dataset version it trained on.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { formatReason } from '../store/reasons.ts';
import type { StageManifest, UpstreamArtifact } from '../stage.ts';
import { diffVersions } from '../store/diff.ts';
import type { StoreLayout } from '../store/layout.ts';
import { lockHolder } from '../store/lock.ts';
import { hasObject, readManifest } from '../store/objects.ts';
import { readRef, type StageRef, type VersionRecord } from '../store/refs.ts';
import { collectDataset } from './collect-dataset.ts';
import type { AdapterSection, AdapterVersion } from './model.ts';
import { readArtifactJson, readTrainLog, readValidLog } from './read-artifacts.ts';

/** How many earlier versions are overlaid on the current one's charts. */
export const MAX_OVERLAID = 4;

/** The versions to show: `versions` in that order when given, else the current one and the newest earlier ones in the store. */
export function pickVersions(layout: StoreLayout, ref: StageRef, versions?: number[]): VersionRecord[] {
  if (versions) return versions.map((n) => ref.versions.find((v) => v.version === n)).filter((v): v is VersionRecord => v !== undefined);
  const inStore = ref.versions.filter((v) => hasObject(layout, v.key));
  const current = inStore.filter((v) => v.version === ref.current);
  const earlier = inStore
    .filter((v) => v.version !== ref.current)
    .sort((a, b) => b.version - a.version)
    .slice(0, MAX_OVERLAID);
  return [...current, ...earlier];
}

function artifactOf(layout: StoreLayout, stage: string, v: VersionRecord, m: StageManifest): UpstreamArtifact {
  return { name: stage, kind: m.kind, key: v.key, version: v.version, dir: layout.object(v.key), manifest: m };
}

export function adapterVersion(layout: StoreLayout, ref: StageRef, v: VersionRecord): AdapterVersion {
  const dir = layout.object(v.key);
  const train = readTrainLog(dir);
  const meta = readArtifactJson<{ data?: { name: string; key: string } }>(dir, 'adapter.json');
  const dataStage = meta?.data ? `datasets.${meta.data.name}` : undefined;
  return {
    version: v.version,
    key: v.key,
    createdAt: v.createdAt,
    action: v.action,
    reasons: v.reasons.map(formatReason),
    current: v.version === ref.current,
    metrics: readArtifactJson<Record<string, unknown>>(dir, 'metrics.json') ?? v.metrics,
    train,
    valid: readValidLog(dir, train),
    dataset:
      dataStage && meta?.data
        ? { stage: dataStage, key: meta.data.key, version: readRef(layout, dataStage)?.versions.find((x) => x.key === meta.data!.key)?.version ?? null }
        : undefined,
  };
}

/** Config and upstream changes from version `a` to version `b` (as `peftmake diff` lists them). */
export async function configChanges(layout: StoreLayout, stage: string, a: VersionRecord, b: VersionRecord) {
  const ma = readManifest(layout, a.key);
  const mb = readManifest(layout, b.key);
  if (!ma || !mb) return [];
  const d = await diffVersions(undefined, artifactOf(layout, stage, a, ma), artifactOf(layout, stage, b, mb));
  const named = (up: string, key: unknown) => {
    if (typeof key !== 'string') return key;
    const v = readRef(layout, up)?.versions.find((x) => x.key === key);
    return `${v ? `v${v.version} ` : ''}(${key.slice(0, 12)})`;
  };
  return [...d.config, ...d.params, ...d.upstream.map((c) => ({ key: `upstream ${c.key}`, old: named(c.key, c.old), new: named(c.key, c.new) }))];
}

/** The newest training log in the stage's resume area whose key is not committed yet: a run under way or interrupted. */
export function inProgress(layout: StoreLayout, stage: string, maxSteps: number | null): AdapterSection['inProgress'] {
  let best: { key: string; mtime: number } | undefined;
  let keys: string[];
  try {
    keys = readdirSync(layout.resumeRoot(stage));
  } catch {
    return undefined;
  }
  for (const key of keys) {
    if (hasObject(layout, key)) continue;
    try {
      const mtime = statSync(join(layout.resume(stage, key), 'train_log.jsonl')).mtimeMs;
      if (!best || mtime > best.mtime) best = { key, mtime };
    } catch {
      // no log yet
    }
  }
  if (!best) return undefined;
  const dir = layout.resume(stage, best.key);
  const train = readTrainLog(dir);
  return {
    key: best.key,
    train,
    valid: readValidLog(dir, train),
    maxSteps,
    updatedAt: new Date(best.mtime).toISOString(),
    buildRunning: lockHolder(layout) !== undefined,
  };
}

export async function collectAdapter(layout: StoreLayout, stage: string, versions?: number[], maxSteps: number | null = null): Promise<AdapterSection> {
  const ref = readRef(layout, stage);
  const running = versions ? undefined : inProgress(layout, stage, maxSteps);
  if (!ref) return { stage, current: 0, pinned: false, versions: [], collected: [], configDiffs: [], ...(running ? { inProgress: running } : {}) };
  const shown = pickVersions(layout, ref, versions);
  const views = shown.map((v) => adapterVersion(layout, ref, v));
  const head = shown[0];
  const configDiffs = head
    ? await Promise.all(shown.slice(1).map(async (v) => ({ from: v.version, to: head.version, changes: await configChanges(layout, stage, v, head) })))
    : [];
  const ds = views[0]?.dataset;
  return {
    stage,
    current: ref.current,
    pinned: ref.pinned,
    versions: views,
    collected: ref.versions.filter((v) => !hasObject(layout, v.key)).map((v) => v.version),
    configDiffs,
    dataset: ds ? collectDataset(layout, ds.stage, ds.key) : undefined,
    ...(running ? { inProgress: running } : {}),
  };
}
