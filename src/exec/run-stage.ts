// Runs one stale stage through its executor (in process into a temp dir, or as a Slurm job): inputs re-checked after
// the run, outputs captured, then committed atomically under its key and the ref updated. A failure leaves nothing
// committed. Also performs restores.
import { rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PeftError } from '../errors.ts';
import type { Pipeline } from '../config/types.ts';
import type { StageManifest, UpstreamArtifact } from '../stage.ts';
import type { HashCache } from '../hash/hash-cache.ts';
import type { StoreLayout } from '../store/layout.ts';
import { commitObject, dropEmptyResume, requireManifest } from '../store/objects.ts';
import { currentVersion, readRef, recordVersion } from '../store/refs.ts';
import { pinToVersion } from '../store/history.ts';
import type { PlannedStage } from '../plan/plan.ts';
import { hashOutputs, hashStageInputs } from '../hash/inputs.ts';
import { hashObjectFiles } from '../store/verify.ts';
import { faultPoint } from '../util/fault.ts';
import type { Reporter } from './reporter.ts';
import { captureOutputs, materializeOutputs } from './workspace-outputs.ts';
import { localExecutor } from './executors/local.ts';
import type { Executor } from './executors/types.ts';

export interface StageEnv {
  pipeline: Pipeline;
  layout: StoreLayout;
  cache: HashCache;
  signal: AbortSignal;
  json: boolean;
  reporter: Reporter;
  /** Keys the executor has settled for upstream stages in this build. */
  keys: ReadonlyMap<string, string>;
  /** Which executor builds a stage (default: local, in this process). */
  executorFor?: (stage: string) => Executor;
  /** The signal a stage's run obeys (default `signal`): the plan executor also aborts cluster jobs after a failure. */
  stageSignal?: (stage: string) => AbortSignal;
}

function artifact(layout: StoreLayout, name: string, key: string): UpstreamArtifact {
  const manifest = requireManifest(layout, key, name);
  const ref = readRef(layout, name);
  const version = ref?.versions.find((v) => v.key === key)?.version ?? 0;
  return { name, kind: manifest.kind, key, version, dir: layout.object(key), manifest };
}

export async function restoreStage(p: PlannedStage, env: StageEnv): Promise<number> {
  const { layout, pipeline } = env;
  const manifest = requireManifest(layout, p.key, p.name);
  materializeOutputs(p.entry, pipeline.projectDir, layout.object(p.key));
  if (p.pinned) return currentVersion(readRef(layout, p.name))!.version;
  const v = recordVersion(layout, p.name, p.key, { action: 'restored', reasons: p.reasons, metrics: manifest.metrics, seconds: 0 });
  return v.version;
}

export interface BuiltResult {
  version: number;
  seconds: number;
  summary?: string;
}

export async function buildStage(p: PlannedStage, env: StageEnv): Promise<BuiltResult> {
  const { layout, pipeline, cache, reporter } = env;
  const t0 = performance.now();
  const resumeDir = layout.resume(p.name, p.key);
  const upstream = Object.fromEntries(p.entry.upstream.map((u) => [u, artifact(layout, u, env.keys.get(u)!)]));
  const cur = currentVersion(readRef(layout, p.name));
  const previous =
    cur && cur.key !== p.key
      ? (() => {
          try {
            return artifact(layout, p.name, cur.key);
          } catch {
            return undefined;
          }
        })()
      : undefined;
  const executor = env.executorFor?.(p.name) ?? localExecutor;
  const ran = await executor.run({ p, upstream, previous, env, signal: env.stageSignal?.(p.name) ?? env.signal });
  const { outDir, result } = ran;
  try {
    if (env.signal.aborted) throw new PeftError('E_CANCELLED', `${p.name}: interrupted`);
    const after = await hashStageInputs(p.entry, pipeline.projectDir, cache);
    const before = new Map(p.inputs.map((i) => [i.path, i.sha256]));
    const changed = [
      ...after.filter((a) => before.get(a.path) !== a.sha256).map((a) => a.path),
      ...p.inputs.filter((i) => !after.some((a) => a.path === i.path)).map((i) => i.path),
    ];
    if (changed.length)
      throw new PeftError('E_INPUT_CHANGED', `${p.name}: input "${changed[0]}" changed while the stage was running; the result was not recorded`, {
        hint: 'run the build again once the inputs are settled',
        paths: changed,
      });
    captureOutputs(p.entry, pipeline.projectDir, outDir);
    const outputs = await hashOutputs(p.entry, pipeline.projectDir, cache);
    const seconds = (performance.now() - t0) / 1000;
    const manifest: StageManifest = {
      name: p.name,
      kind: p.kind,
      implVersion: p.entry.kind.implVersion,
      key: p.key,
      config: p.material.config,
      inputs: p.inputs,
      upstream: p.material.upstream,
      resolved: p.material.resolved,
      params: p.material.params,
      engineVersion: p.material.engineVersion,
      metrics: result.metrics ?? {},
      createdAt: new Date().toISOString(),
      seconds,
      host: ran.host,
      outputs,
      ...(ran.job ? { job: ran.job } : {}),
      files: hashObjectFiles(outDir),
    };
    faultPoint('commit.manifest', join(outDir, 'manifest.json'));
    writeFileSync(join(outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    commitObject(layout, outDir, p.key);
    faultPoint('commit.ref', layout.ref(p.name));
    const v = recordVersion(layout, p.name, p.key, {
      action: 'built',
      reasons: p.reasons,
      metrics: manifest.metrics,
      seconds,
      ...(ran.job ? { job: ran.job } : {}),
    });
    faultPoint('cleanup.resume', resumeDir);
    rmSync(resumeDir, { recursive: true, force: true });
    for (const [stage, key] of Object.entries(result.keep ?? {})) {
      const kept = readRef(layout, stage)?.versions.find((x) => x.key === key);
      if (!kept) continue;
      pinToVersion(layout, stage, String(kept.version));
      reporter.log(p.name, `${stage} kept at v${kept.version} (pinned; \`peftmake unpin ${stage}\` releases it)`);
    }
    try {
      rmdirSync(layout.resumeRoot(p.name)); // only when no other key of this stage has a checkpoint
    } catch {
      // not empty: keep the others
    }
    const where = ran.job ? `Slurm job ${ran.job.id}${ran.job.node ? ` on ${ran.job.node}` : ''}` : '';
    return { version: v.version, seconds, summary: where ? (result.summary ? `${result.summary}; ${where}` : where) : result.summary };
  } catch (e) {
    rmSync(outDir, { recursive: true, force: true });
    dropEmptyResume(layout, p.name, p.key);
    throw e;
  } finally {
    ran.release();
  }
}
