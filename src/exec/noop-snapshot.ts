// The no-op snapshot: after a build, the stat state of everything its plan read for each stage it found fresh
// (pipeline.json, the stage's input roots, params files and workspace outputs, its ref and its store object) is
// digested and saved with those stages' plans, and the report when all were fresh. The next build digests the same
// paths (by stat, on two threads, no file read): nothing changed replays the report without loading pipeline.json;
// otherwise the stages none of whose paths changed (and whose upstream keys hold) keep their plan, the rest are
// hashed and planned as usual.
import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import type { Toolchain } from '../stage.ts';
import { RACY_NS } from '../hash/hash-cache.ts';
import { treeDigestAvailable, treeDigests } from '../hash/tree-digest.ts';
import type { StageEntry } from '../config/types.ts';
import { emptyMaterial, type PlanOptions, type PlannedStage, type Reused } from '../plan/plan.ts';
import { canonicalJson } from '../hash/canonical-json.ts';
import type { StoreLayout } from '../store/layout.ts';
import type { BuildReport } from './reporter.ts';

/** Bump when what a snapshot records, or what planning reads, changes. */
const FORMAT = 2;
const RACY_MS = Number(RACY_NS / 1_000_000n);

/** A stage the snapshot's plan found fresh: its plan, and the probes (indices) of what planning it read. */
interface SnapStage {
  name: string;
  key: string;
  computedKey: string;
  version: number;
  pinned: boolean;
  stale: boolean;
  probes: number[];
  /** For a kind with `resolve`: the canonical JSON of what it resolved (resolved again before the plan is reused). */
  resolved?: string;
}

interface Snapshot {
  format: number;
  /** Everything besides files that the plan depended on (see snapshotId). */
  id: string;
  /** probes[0] is pipeline.json. */
  probes: string[];
  digests: string[];
  stages: SnapStage[];
  /** The whole build's report, when every stage was fresh and is recorded: replayed without loading pipeline.json. */
  report?: BuildReport;
}

/** How many snapshots this process replayed whole, stages it reused, and snapshots it saved (tests read them). */
export const snapshotCounts = { replayed: 0, reused: 0, saved: 0 };

export function snapshotFile(layout: StoreLayout): string {
  return join(layout.root, 'cache', 'noop-snapshot.json');
}

/** Snapshots are used unless turned off (PEFTMAKE_NO_SNAPSHOT=1: benches and tests measure full planning) or unbuilt. */
export function snapshotsEnabled(): boolean {
  return process.env.PEFTMAKE_NO_SNAPSHOT !== '1' && treeDigestAvailable();
}

/** What a plan depends on besides files: the toolchain (engine version, each kind's version), targets, where the project is. */
export function snapshotId(toolchain: Toolchain, pipelineFile: string, targets: readonly string[]): string {
  let real: string;
  try {
    real = realpathSync(dirname(pipelineFile));
  } catch {
    real = '';
  }
  const kinds = toolchain.kinds.map((k) => `${k.section}/${k.kind}@${k.implVersion}`).sort();
  return JSON.stringify([FORMAT, toolchain.engineVersion, kinds, pipelineFile, real, [...targets]]);
}

/** The folder a glob is expanded under (its segments before the first wildcard), or the path itself. */
function rootOf(abs: string): string {
  if (!/[*?[\]{}]/.test(abs)) return abs;
  const parts = abs.split(sep);
  const i = parts.findIndex((s) => /[*?[\]{}]/.test(s));
  return parts.slice(0, i).join(sep) || sep;
}

/** Every path planning one stage read: input roots, params files, workspace outputs, its ref and its store object. */
export function stageProbes(p: PlannedStage, projectDir: string, layout: StoreLayout): string[] {
  const e = p.entry;
  const out = new Set<string>();
  for (const f of e.files) out.add(rootOf(resolve(projectDir, f)));
  for (const f of e.deps.externalFiles ?? []) out.add(rootOf(resolve(projectDir, f)));
  for (const f of e.deps.paramsFiles ?? []) out.add(resolve(projectDir, f.file));
  for (const o of e.outputs) out.add(rootOf(resolve(projectDir, o)));
  out.add(layout.ref(p.name));
  out.add(layout.object(p.key));
  return [...out];
}

function readSnapshot(file: string): Snapshot | undefined {
  try {
    const s = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
    const ok = s?.format === FORMAT && Array.isArray(s.probes) && Array.isArray(s.digests) && s.probes.length === s.digests.length && Array.isArray(s.stages);
    return ok ? s : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a snapshot file exists (the build then takes the lock before loading pipeline.json, to check it). */
export function hasSnapshot(layout: StoreLayout): boolean {
  return existsSync(snapshotFile(layout));
}

export interface SnapshotCheck {
  /** Nothing changed and every stage is recorded: the report to replay. */
  report?: BuildReport;
  /** Otherwise, for planBuild: the recorded plans of stages whose probes are unchanged (PlanOptions.reuse). */
  reuse?: NonNullable<PlanOptions['reuse']>;
  /** How many stages `reuse` gave. */
  reused(): number;
}

/**
 * Digests every probe of the snapshot (when it is of this id) and says what still holds: the whole report, or the
 * stages none of whose probes changed. Nothing holds when pipeline.json changed (any stage's entry may have).
 */
export async function checkSnapshot(layout: StoreLayout, id: string, engineVersion: string): Promise<SnapshotCheck> {
  let count = 0;
  const none: SnapshotCheck = { reused: () => count };
  const s = readSnapshot(snapshotFile(layout));
  if (!s || s.id !== id) return none;
  const now = await treeDigests(s.probes, layout.root);
  const changed = new Uint8Array(s.probes.length);
  let any = false;
  for (let i = 0; i < s.digests.length; i++)
    if (now.digests[i] !== s.digests[i]) {
      changed[i] = 1;
      any = true;
    }
  // Whole only when no stage resolves external facts (those are asked again, which needs pipeline.json).
  if (!any && s.report && s.stages.every((x) => x.resolved === undefined)) {
    snapshotCounts.replayed++;
    return { report: s.report, reused: () => count };
  }
  if (changed[0]) return none;
  const recorded = new Map(s.stages.map((x) => [x.name, x]));
  const reuse = (entry: StageEntry, planned: ReadonlyMap<string, PlannedStage>): Reused | undefined => {
    const m = recorded.get(entry.name);
    if (!m || m.probes.some((i) => changed[i])) return undefined;
    // Its key also holds the keys upstream stages had: each must be planned to the same key again.
    for (const u of entry.upstream) if (!recorded.has(u) || planned.get(u)?.key !== recorded.get(u)!.key) return undefined;
    count++;
    snapshotCounts.reused++;
    const { key, computedKey, version, pinned, stale } = m;
    const material = emptyMaterial(entry, engineVersion);
    const stage: PlannedStage = {
      entry,
      name: entry.name,
      kind: entry.kind.kind,
      action: 'fresh',
      key,
      computedKey,
      reasons: [],
      version,
      pinned,
      stale,
      material,
      inputs: [],
    };
    return { stage, resolved: m.resolved };
  };
  return { reuse, reused: () => count };
}

export function dropSnapshot(layout: StoreLayout): void {
  rmSync(snapshotFile(layout), { force: true });
}

/**
 * Saves the snapshot of a build that started reading at `startedMs`: every stage its plan found fresh, unless
 * something that stage's plan read changed at or after that moment, or so shortly before it that a later change could
 * keep the same stamps (the hash cache's racy rule): then what the digests saw might not be what the plan read. The
 * whole report goes in when every stage did. Nothing to record drops the file.
 */
export async function saveSnapshot(
  layout: StoreLayout,
  id: string,
  plan: readonly PlannedStage[],
  report: BuildReport,
  pipelineFile: string,
  startedMs: number,
): Promise<boolean> {
  const fresh = plan.filter((p) => p.action === 'fresh');
  const lists = fresh.map((p) => stageProbes(p, layout.projectDir, layout));
  const paths = [...new Set([pipelineFile, ...lists.flat()])];
  const { digests, newestMs } = fresh.length ? await treeDigests(paths, layout.root) : { digests: [], newestMs: [] };
  const settled = (i: number): boolean => newestMs[i] < startedMs - RACY_MS;
  const at = new Map(paths.map((p, i) => [p, i]));
  const keep = fresh.length && settled(0) ? fresh.map((_, k) => k).filter((k) => lists[k].every((p) => settled(at.get(p)!))) : [];
  if (!keep.length) {
    dropSnapshot(layout);
    return false;
  }
  // Only the probes of the stages kept, pipeline.json first.
  const probes: string[] = [pipelineFile];
  const index = new Map<string, number>([[pipelineFile, 0]]);
  const stages: SnapStage[] = keep.map((k) => {
    const p = fresh[k];
    const ids = lists[k].map((path) => {
      if (!index.has(path)) index.set(path, probes.push(path) - 1);
      return index.get(path)!;
    });
    const resolved = p.entry.kind.resolve ? { resolved: canonicalJson(p.material.resolved) } : {};
    return { name: p.name, key: p.key, computedKey: p.computedKey, version: p.version, pinned: p.pinned, stale: p.stale, probes: ids, ...resolved };
  });
  const whole = keep.length === plan.length && report.ok;
  const snap: Snapshot = { format: FORMAT, id, probes, digests: probes.map((p) => digests[at.get(p)!]), stages, ...(whole ? { report } : {}) };
  const file = snapshotFile(layout);
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(snap));
  renameSync(tmp, file);
  snapshotCounts.saved++;
  return true;
}
