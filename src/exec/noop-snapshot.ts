// The no-op snapshot: after a build whose plan found every stage fresh, the stat state of everything that plan read
// (pipeline.json, each stage's input roots, params files and workspace outputs, its ref and its store object) is
// digested and saved with the report. The next build digests the same paths (by stat, on two threads, no file read)
// and, when nothing changed, replays that report instead of hashing and planning again; any difference plans as usual.
import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import type { Toolchain } from '../stage.ts';
import { RACY_NS } from '../hash/hash-cache.ts';
import { treeDigestAvailable, treeDigests } from '../hash/tree-digest.ts';
import type { PlannedStage } from '../plan/plan.ts';
import type { StoreLayout } from '../store/layout.ts';
import type { BuildReport } from './reporter.ts';

/** Bump when what a snapshot records, or what planning reads, changes. */
const FORMAT = 1;
const RACY_MS = Number(RACY_NS / 1_000_000n);

interface Snapshot {
  format: number;
  /** Everything besides files that the plan depended on (see snapshotId). */
  id: string;
  probes: string[];
  digests: string[];
  report: BuildReport;
}

/** How many snapshots this process replayed and saved (tests read them). */
export const snapshotCounts = { replayed: 0, saved: 0 };

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

/** Every path a plan of these stages read: pipeline.json, input roots, params files, outputs, refs and objects. */
export function probesOf(plan: readonly PlannedStage[], pipelineFile: string, projectDir: string, layout: StoreLayout): string[] {
  const out = new Set<string>([pipelineFile]);
  for (const p of plan) {
    const e = p.entry;
    for (const f of e.files) out.add(rootOf(resolve(projectDir, f)));
    for (const f of e.deps.externalFiles ?? []) out.add(rootOf(resolve(projectDir, f)));
    for (const f of e.deps.paramsFiles ?? []) out.add(resolve(projectDir, f.file));
    for (const o of e.outputs) out.add(rootOf(resolve(projectDir, o)));
    out.add(layout.ref(p.name));
    out.add(layout.object(p.key));
  }
  return [...out];
}

function readSnapshot(file: string): Snapshot | undefined {
  try {
    const s = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
    const ok = s?.format === FORMAT && Array.isArray(s.probes) && Array.isArray(s.digests) && s.probes.length === s.digests.length && s.report;
    return ok ? s : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a snapshot file exists (the build then takes the lock before loading pipeline.json, to check it). */
export function hasSnapshot(layout: StoreLayout): boolean {
  return existsSync(snapshotFile(layout));
}

/** The recorded report when the snapshot is of this id and every probe's digest is unchanged; else undefined. */
export async function replaySnapshot(layout: StoreLayout, id: string): Promise<BuildReport | undefined> {
  const s = readSnapshot(snapshotFile(layout));
  if (!s || s.id !== id) return undefined;
  const now = await treeDigests(s.probes, layout.root);
  for (let i = 0; i < s.digests.length; i++) if (now.digests[i] !== s.digests[i]) return undefined;
  snapshotCounts.replayed++;
  return s.report;
}

export function dropSnapshot(layout: StoreLayout): void {
  rmSync(snapshotFile(layout), { force: true });
}

/**
 * Saves the snapshot of an all-fresh plan that started reading at `startedMs`. Not saved (false) when anything it
 * read changed at or after that moment, or so shortly before it that a later change could keep the same stamps (the
 * hash cache's racy rule): then what the digests saw might not be what the plan read.
 */
export async function saveSnapshot(
  layout: StoreLayout,
  id: string,
  plan: readonly PlannedStage[],
  report: BuildReport,
  pipelineFile: string,
  startedMs: number,
): Promise<boolean> {
  if (!plan.length || !plan.every((p) => p.action === 'fresh' && !p.entry.kind.resolve)) return false;
  const probes = probesOf(plan, pipelineFile, layout.projectDir, layout);
  const { digests, newestMs } = await treeDigests(probes, layout.root);
  if (newestMs >= startedMs - RACY_MS) return false;
  const file = snapshotFile(layout);
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ format: FORMAT, id, probes, digests, report } satisfies Snapshot));
  renameSync(tmp, file);
  snapshotCounts.saved++;
  return true;
}
