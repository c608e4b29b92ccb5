// Planning: computes every selected stage's key (kind + impl version + config + input hashes + params + upstream
// keys + engine version) and decides fresh / restored / built with structured reasons. Writes nothing.
import type { Pipeline, StageEntry } from '../config/types.ts';
import { PeftError, stageFailureText } from '../errors.ts';
import type { StageManifest, UpstreamArtifact } from '../stage.ts';
import { canonicalJson, keyOfMaterial } from '../hash/canonical-json.ts';
import type { HashCache } from '../hash/hash-cache.ts';
import { upstreamClosure } from '../graph/graph.ts';
import { closest } from '../util/suggest.ts';
import type { StoreLayout } from '../store/layout.ts';
import { currentVersion, readRef, type StageRef } from '../store/refs.ts';
import { readManifest } from '../store/objects.ts';
import { verifyObject } from '../store/verify.ts';
import type { Reason } from '../store/reasons.ts';
import { diffReasons, type KeyMaterial } from './reasons.ts';
import { readParams } from './params.ts';
import { hashOutputs, hashStageInputs, type FileRecord } from '../hash/inputs.ts';

/** `failed` / `skipped`: the stage could not be planned (a missing input, say) or depends on one that could not. */
export type PlannedAction = 'built' | 'fresh' | 'restored' | 'failed' | 'skipped';

export interface PlannedStage {
  entry: StageEntry;
  name: string;
  kind: string;
  action: PlannedAction;
  /** The key this stage will have after the build (the pinned key for a pinned stage). */
  key: string;
  /** The key its inputs give now (differs from `key` only for a pinned, stale stage). */
  computedKey: string;
  reasons: Reason[];
  /** Version it will be at: existing for fresh / restored-from-history, the next number for new keys. */
  version: number;
  pinned: boolean;
  stale: boolean;
  /** What the key was computed from; for a reused stage (PlanOptions.reuse) only emptyMaterial (and the resolved facts), and no inputs. */
  material: KeyMaterial;
  inputs: FileRecord[];
  error?: string;
}

// Left out of the key: free text, and `executor` (where a stage runs does not change what it builds).
const COSMETIC = new Set(['description', '$comment', 'executor']);

export function stripCosmetic(v: unknown, top = true): unknown {
  if (Array.isArray(v)) return v.map((x) => stripCosmetic(x, false));
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v)
        .filter(([k]) => !(COSMETIC.has(k) && (top || k === '$comment')))
        .map(([k, x]) => [k, stripCosmetic(x, false)]),
    );
  return v;
}

export function keyOf(m: KeyMaterial): string {
  return keyOfMaterial(m);
}

/** Resolves CLI targets: full names, sections, or bare names unique across sections. */
export function resolveTargets(pipeline: Pipeline, targets: readonly string[]): string[] {
  if (targets.length === 0) return [...pipeline.order];
  const out = new Set<string>();
  for (const t of targets) {
    if (pipeline.stages.has(t)) out.add(t);
    else if ([...pipeline.stages.values()].some((e) => e.section === t))
      for (const e of pipeline.stages.values()) e.section === t ? out.add(e.name) : undefined;
    else {
      const bare = [...pipeline.stages.values()].filter((e) => e.entryName === t);
      if (bare.length === 1) out.add(bare[0].name);
      else {
        const guess = closest(t, pipeline.stages.keys());
        const detail = bare.length > 1 ? ` (ambiguous: ${bare.map((e) => e.name).join(', ')})` : guess ? ` (did you mean "${guess}"?)` : '';
        throw new PeftError('E_NOT_FOUND', `no stage "${t}" in ${pipeline.label}${detail}`, {
          hint: 'stage names are <section>.<name>; `peftmake status` lists them',
        });
      }
    }
  }
  return [...out];
}

export interface PlanOptions {
  /** The engine version that joins every key, handed in by the entry point (src/engine/version.ts for the CLI). */
  engineVersion: string;
  targets?: readonly string[];
  signal?: AbortSignal;
  /** Re-hash every file of every committed object used (`build --verify`), not only files whose stat changed. */
  verify?: boolean;
  /**
   * A stage's plan known without hashing (the build's no-op snapshot: nothing it read changed, its upstream keys are
   * the recorded ones), asked in order once the stages upstream are planned; undefined plans it as usual.
   */
  reuse?: (entry: StageEntry, planned: ReadonlyMap<string, PlannedStage>) => Reused | undefined;
}

/** A reused plan, and for a kind with `resolve` the canonical JSON of the facts it resolved then (resolved again to compare). */
export interface Reused {
  stage: PlannedStage;
  resolved?: string;
}

/**
 * The store files one plan reads, each read once: a stage's ref and manifest are read again for every stage
 * downstream of it (a stage with 500 upstream stages read 500 refs and manifests).
 */
class StoreReads {
  private readonly refs = new Map<string, StageRef | undefined>();
  private readonly manifests = new Map<string, StageManifest | undefined>();
  constructor(readonly layout: StoreLayout) {}
  ref(stage: string): StageRef | undefined {
    if (!this.refs.has(stage)) this.refs.set(stage, readRef(this.layout, stage));
    return this.refs.get(stage);
  }
  manifest(key: string): StageManifest | undefined {
    if (!this.manifests.has(key)) this.manifests.set(key, readManifest(this.layout, key));
    return this.manifests.get(key);
  }
}

function artifactOf(store: StoreReads, name: string): UpstreamArtifact | undefined {
  const layout = store.layout;
  const v = currentVersion(store.ref(name));
  if (!v) return undefined;
  const manifest = store.manifest(v.key);
  return manifest ? { name, kind: manifest.kind, key: v.key, version: v.version, dir: layout.object(v.key), manifest } : undefined;
}

export async function planBuild(pipeline: Pipeline, layout: StoreLayout, cache: HashCache, opts: PlanOptions): Promise<PlannedStage[]> {
  const selected = upstreamClosure(resolveTargets(pipeline, opts.targets ?? []), pipeline.edges);
  const planned = new Map<string, PlannedStage>();
  const store = new StoreReads(layout);
  const signal = opts.signal ?? new AbortController().signal;
  for (const name of pipeline.order) {
    if (!selected.has(name)) continue;
    const entry = pipeline.stages.get(name)!;
    const badUp = entry.upstream.find((u) => ['failed', 'skipped'].includes(planned.get(u)?.action ?? ''));
    if (badUp) {
      planned.set(name, unplannable(entry, opts.engineVersion, 'skipped', `upstream ${badUp} ${planned.get(badUp)!.action}`));
      continue;
    }
    try {
      const reused = opts.reuse?.(entry, planned);
      if (reused) {
        // A kind with external facts is asked again: the plan holds only while they are what they were.
        const facts = entry.kind.resolve ? await resolveFacts(entry, pipeline, store, signal) : undefined;
        if (!facts || canonicalJson(facts) === reused.resolved) {
          planned.set(name, facts ? { ...reused.stage, material: { ...reused.stage.material, resolved: facts } } : reused.stage);
          continue;
        }
      }
      planned.set(name, await planStage(entry, pipeline, store, cache, planned, opts.engineVersion, signal, Boolean(opts.verify)));
    } catch (e) {
      if (!(e instanceof PeftError) || signal.aborted || e.code === 'E_STORE') throw e;
      planned.set(name, unplannable(entry, opts.engineVersion, 'failed', stageFailureText(e)));
    }
  }
  return [...planned.values()];
}

/** The key material of a stage not hashed (unplannable, or reused): its kind and versions, nothing else. */
export function emptyMaterial(entry: StageEntry, engineVersion: string): KeyMaterial {
  return {
    kind: entry.kind.kind,
    implVersion: entry.kind.implVersion,
    config: {},
    inputs: [],
    params: {},
    upstream: {},
    resolved: {},
    engineVersion,
  };
}

function unplannable(entry: StageEntry, engineVersion: string, action: 'failed' | 'skipped', error: string): PlannedStage {
  const material = emptyMaterial(entry, engineVersion);
  return {
    entry,
    name: entry.name,
    kind: entry.kind.kind,
    action,
    key: '',
    computedKey: '',
    reasons: [],
    version: 0,
    pinned: false,
    stale: false,
    material,
    inputs: [],
    error,
  };
}

/** The external facts a kind resolves for a stage (a hub revision's commit, say); {} for kinds without `resolve`. */
async function resolveFacts(entry: StageEntry, pipeline: Pipeline, store: StoreReads, signal: AbortSignal): Promise<Record<string, unknown>> {
  if (!entry.kind.resolve) return {};
  const upstream = Object.fromEntries(entry.upstream.map((u) => [u, artifactOf(store, u)]).filter(([, a]) => a !== undefined)) as Record<
    string,
    UpstreamArtifact
  >;
  return entry.kind.resolve({
    name: entry.name,
    kind: entry.kind.kind,
    config: entry.config,
    pipeline: pipeline.config,
    projectDir: pipeline.projectDir,
    upstream,
    signal,
    json: true,
    progress: () => {},
    log: () => {},
  });
}

async function planStage(
  entry: StageEntry,
  pipeline: Pipeline,
  store: StoreReads,
  cache: HashCache,
  planned: ReadonlyMap<string, PlannedStage>,
  engineVersion: string,
  signal: AbortSignal,
  verifyFull: boolean,
): Promise<PlannedStage> {
  const name = entry.name;
  const layout = store.layout;
  {
    const inputs = await hashStageInputs(entry, pipeline.projectDir, cache);
    const params = { ...(entry.deps.params ?? {}), ...readParams(name, pipeline.projectDir, entry.deps.paramsFiles ?? []) };
    const ref = store.ref(name);
    const resolved = await resolveFacts(entry, pipeline, store, signal);
    const material: KeyMaterial = {
      kind: entry.kind.kind,
      implVersion: entry.kind.implVersion,
      config: stripCosmetic(entry.config),
      inputs: inputs.map((i) => ({ path: i.path, sha256: i.sha256 })),
      params,
      upstream: Object.fromEntries(entry.upstream.map((u) => [u, planned.get(u)!.key])),
      resolved,
      engineVersion,
    };
    const computedKey = keyOf(material);
    const cur = currentVersion(ref);
    const curManifest = cur ? store.manifest(cur.key) : undefined;
    const pinned = Boolean(ref?.pinned && cur);
    const key = pinned ? cur!.key : computedKey;
    let reasons: Reason[] = [];
    if (!cur) reasons.push({ type: 'no-record' });
    else if (cur.key !== computedKey) reasons = curManifest ? diffReasons(curManifest, material) : [{ type: 'output-missing' }];

    // A committed object is used only when it is what was committed: a corrupt one is rebuilt (never served).
    const check = verifyObject(layout, key, { full: verifyFull, cache, manifest: (k) => store.manifest(k) });
    const exists = check.state === 'ok' || check.state === 'unverified';
    if (check.state === 'corrupt' && pinned)
      throw new PeftError('E_STORE', `${name}: pinned version v${cur!.version} is corrupt in the store: ${check.problems[0]}`, {
        hint: `run \`peftmake unpin ${name}\` and build again to rebuild it (\`peftmake fsck\` lists every damaged object)`,
      });
    if (check.state === 'corrupt') reasons = [...reasons.filter((r) => r.type !== 'no-record'), { type: 'artifact-corrupt', problem: check.problems[0] }];
    let action: PlannedAction;
    if (cur && cur.key === key && exists) {
      const missing = await missingOutputs(entry, store.manifest(key)!, pipeline.projectDir, cache);
      if (missing.length) {
        action = 'restored';
        reasons = [...(pinned ? [] : reasons), ...missing.map((path) => ({ type: 'output-missing' as const, path }))];
      } else action = 'fresh';
    } else if (exists) action = 'restored';
    else {
      action = 'built';
      if (cur && cur.key === key && check.state === 'missing') reasons.push({ type: 'output-missing' });
    }
    if (pinned && !exists)
      throw new PeftError('E_STORE', `${name}: pinned version v${cur!.version} is missing from the store`, {
        hint: `run \`peftmake unpin ${name}\` and build again`,
      });
    const version = ref?.versions.find((v) => v.key === key)?.version ?? (ref?.versions.length ?? 0) + 1;
    return {
      entry,
      name,
      kind: entry.kind.kind,
      action,
      key,
      computedKey,
      reasons: action === 'fresh' ? [] : reasons,
      version,
      pinned,
      stale: pinned && computedKey !== key,
      material,
      inputs,
    };
  }
}

/** Workspace outputs missing or changed compared with the committed artifact's manifest. */
export async function missingOutputs(entry: StageEntry, manifest: StageManifest, projectDir: string, cache: HashCache): Promise<string[]> {
  if (entry.outputs.length === 0) return [];
  const now = new Map((await hashOutputs(entry, projectDir, cache)).map((r) => [r.path, r.sha256]));
  const want = manifest.outputs ?? [];
  const bad = new Set<string>();
  for (const o of want) if (now.get(o.path) !== o.sha256) bad.add(o.path);
  const wanted = new Set(want.map((o) => o.path));
  for (const p of now.keys()) if (!wanted.has(p)) bad.add(p);
  // Declared outputs the artifact holds no file for (an empty dir, say) count only when the path is gone entirely.
  return [...bad].sort();
}
