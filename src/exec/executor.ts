// Runs a plan: stale stages in dependency order, independent ones in parallel up to `jobs`, heavy stages one at a
// time (the exclusive compute slot); with keepGoing a failure skips only its dependents. Stages built by a cluster
// executor (Slurm jobs) take neither a job slot nor the compute slot: independent ones run as concurrent jobs, and a
// failure without keepGoing (or Ctrl-C) cancels them.
import { PeftError, stageFailureText } from '../errors.ts';
import { ioError } from '../util/io-errors.ts';
import type { PlannedStage } from '../plan/plan.ts';
import { makeOutcome, type BuildReport, type StageOutcome } from './reporter.ts';
import { buildStage, restoreStage, type StageEnv } from './run-stage.ts';

export interface ExecuteOptions {
  jobs: number;
  keepGoing: boolean;
}

function errorText(raw: unknown): string {
  const e = ioError(raw);
  if (e instanceof PeftError) return stageFailureText(e);
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

export async function executePlan(plan: readonly PlannedStage[], env: Omit<StageEnv, 'keys'>, opts: ExecuteOptions): Promise<BuildReport> {
  const keys = new Map<string, string>();
  const remoteStop = new AbortController(); // cancels cluster jobs: Ctrl-C, or a failure without keepGoing
  const onAbort = (): void => remoteStop.abort(env.signal.reason);
  env.signal.addEventListener('abort', onAbort, { once: true });
  const isRemote = (name: string): boolean => (env.executorFor?.(name).kind ?? 'local') !== 'local';
  const fullEnv: StageEnv = { ...env, keys, stageSignal: (name) => (isRemote(name) ? remoteStop.signal : env.signal) };
  const outcomes = new Map<string, StageOutcome>();
  const inPlan = new Set(plan.map((p) => p.name));
  const waiting = [...plan];
  const running = new Map<string, Promise<void>>();
  let heavyBusy = false;
  let failed = false;
  let localRunning = 0;
  const fail = (name: string): void => {
    failed = true;
    if (!opts.keepGoing && !remoteStop.signal.aborted) remoteStop.abort(new PeftError('E_CANCELLED', `${name} failed and --keep-going is off`));
  };

  const base = (p: PlannedStage): Omit<StageOutcome, 'action' | 'seconds' | 'version'> => ({
    name: p.name,
    kind: p.kind,
    key: p.key,
    reasons: p.reasons,
    ...(p.pinned ? { pinned: true, stale: p.stale } : {}),
  });
  const finish = (raw: StageOutcome): void => {
    const o = makeOutcome(raw);
    outcomes.set(o.name, o);
    if (o.action !== 'failed' && o.action !== 'skipped') keys.set(o.name, o.key);
    env.reporter.stageEnd(o);
  };

  const start = (p: PlannedStage): void => {
    const action = p.action as 'built' | 'restored';
    env.reporter.stageStart(p.name, action);
    const t0 = performance.now();
    const local = action === 'restored' || !isRemote(p.name);
    if (local) localRunning++;
    if (p.entry.heavy && action === 'built' && local) heavyBusy = true;
    const task = (async () => {
      try {
        if (action === 'restored') {
          const version = await restoreStage(p, fullEnv);
          finish({ ...base(p), action, version, seconds: (performance.now() - t0) / 1000 });
        } else {
          const r = await buildStage(p, fullEnv);
          finish({ ...base(p), action, version: r.version, seconds: r.seconds, summary: r.summary });
        }
      } catch (e) {
        fail(p.name);
        finish({ ...base(p), action: 'failed', version: null, seconds: (performance.now() - t0) / 1000, error: errorText(e) });
      } finally {
        if (p.entry.heavy && action === 'built' && local) heavyBusy = false;
        if (local) localRunning--;
        running.delete(p.name);
      }
    })();
    running.set(p.name, task);
  };

  while (waiting.length || running.size) {
    const stopping = env.signal.aborted || (failed && !opts.keepGoing);
    for (let i = 0; i < waiting.length; ) {
      const p = waiting[i];
      if (p.action === 'failed' || p.action === 'skipped') {
        // Could not be planned (e.g. a missing input): reported as is; a failure stops the build unless keepGoing.
        waiting.splice(i, 1);
        if (p.action === 'failed') fail(p.name);
        finish({ ...base(p), action: p.action, version: null, seconds: 0, error: p.error });
        continue;
      }
      const ups = p.entry.upstream.filter((u) => inPlan.has(u));
      const bad = ups.find((u) => ['failed', 'skipped'].includes(outcomes.get(u)?.action ?? ''));
      if (bad || (stopping && p.action !== 'fresh')) {
        waiting.splice(i, 1);
        const why = bad ? `upstream ${bad} ${outcomes.get(bad)!.action}` : env.signal.aborted ? 'build interrupted' : 'build stopped after a failure';
        finish({ ...base(p), action: 'skipped', version: null, seconds: 0, error: why });
        continue;
      }
      if (!ups.every((u) => outcomes.has(u))) {
        i++;
        continue;
      }
      if (p.action === 'fresh') {
        waiting.splice(i, 1);
        finish({ ...base(p), action: 'fresh', version: p.version, seconds: 0 });
        continue;
      }
      const remote = p.action === 'built' && isRemote(p.name);
      const heavy = p.entry.heavy && p.action === 'built' && !remote;
      if (stopping || (!remote && localRunning >= opts.jobs) || (heavy && heavyBusy)) {
        i++;
        continue;
      }
      waiting.splice(i, 1);
      start(p);
    }
    if (running.size) await Promise.race(running.values());
    else if (waiting.length && !waiting.some((p) => p.entry.upstream.every((u) => !inPlan.has(u) || outcomes.has(u)))) {
      throw new PeftError('E_INTERNAL', `executor stalled with ${waiting.map((p) => p.name).join(', ')} waiting`);
    }
  }
  env.signal.removeEventListener('abort', onAbort);
  const stages = plan.map((p) => outcomes.get(p.name)!);
  return { ok: stages.every((s) => s.action !== 'failed' && s.action !== 'skipped'), stages };
}
