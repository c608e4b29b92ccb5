// Builds the report model of a project: the pipeline graph with what a build would do now (the status the caller
// planned), then one section per adapter, eval, composition and dataset from the store. Reads; runs nothing.
import { basename } from 'node:path';
import { PeftError } from '../errors.ts';
import type { Pipeline } from '../config/types.ts';
import { formatReason, type Reason } from '../store/reasons.ts';
import { StoreLayout } from '../store/layout.ts';
import { lockHolder } from '../store/lock.ts';
import { currentVersion, readRef } from '../store/refs.ts';
import { collectAdapter } from './collect-adapter.ts';
import { collectComposition } from './collect-composition.ts';
import { collectDataset } from './collect-dataset.ts';
import { collectEval } from './collect-eval.ts';
import type { GraphNode, ReportModel } from './model.ts';

/** What a build would do for one stage (the shape of `statusOf`'s outcomes, which the caller hands in). */
export interface StageStatus {
  name: string;
  action: string; // fresh | built | restored | failed | skipped
  reasons: Reason[];
  pinned?: boolean;
  stale?: boolean;
  error?: string;
}

export interface CollectOptions {
  /** The loaded pipeline (config/load.ts with the CLI's stage kinds). */
  pipeline: Pipeline;
  /** What a build would do now, per stage: the caller plans (`statusOf` in src/exec); the report runs nothing. */
  status: readonly StageStatus[];
  now?: Date;
}

function readRefQuietly(layout: StoreLayout, stage: string): ReturnType<typeof readRef> {
  try {
    return readRef(layout, stage);
  } catch {
    return undefined;
  }
}

const STATE: Record<string, GraphNode['state']> = { fresh: 'fresh', built: 'stale', restored: 'restore', failed: 'failed', skipped: 'blocked' };

export async function collectReport(opts: CollectOptions): Promise<ReportModel> {
  const problems: ReportModel['problems'] = [];
  /** Runs one stage's collector; a store error (a damaged file) becomes a listed problem and the fallback section. */
  const guarded = async <T>(stage: string, fn: () => T | Promise<T>, fallback: (error: string) => T): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof PeftError)) throw e;
      const message = `${e.message}${e.details.hint ? `; ${e.details.hint}` : ''}`;
      problems.push({ stage, message });
      return fallback(message);
    }
  };
  const pipeline = opts.pipeline;
  const layout = new StoreLayout(pipeline.projectDir);
  const outcome = new Map(opts.status.map((s) => [s.name, s]));
  const graph: GraphNode[] = pipeline.order.map((name) => {
    const e = pipeline.stages.get(name)!;
    const o = outcome.get(name);
    const ref = readRefQuietly(layout, name); // a corrupt ref: its section lists the problem
    return {
      name,
      kind: e.kind.kind,
      upstream: [...e.upstream],
      state: o ? (STATE[o.action] ?? 'stale') : 'stale',
      version: ref ? ref.current : null,
      pinned: Boolean(ref?.pinned),
      heldBack: Boolean(o?.pinned && o.stale),
      reasons: o ? [...o.reasons.map(formatReason), ...(o.error ? [o.error] : [])] : [],
    };
  });
  const of = (section: string) => pipeline.order.filter((n) => pipeline.stages.get(n)!.section === section);
  const datasets = (
    await Promise.all(
      of('datasets').map((s) =>
        guarded(
          s,
          () => {
            const v = currentVersion(readRef(layout, s));
            return v ? collectDataset(layout, s, v.key) : undefined;
          },
          () => undefined,
        ),
      ),
    )
  ).filter((d) => d !== undefined);
  const empty = (stage: string, error: string) => ({ stage, current: 0, pinned: false, error });
  const adapters = await Promise.all(
    of('adapters').map((s) => {
      const maxSteps = Number((pipeline.stages.get(s)!.config as { maxSteps?: number }).maxSteps ?? 0);
      return guarded(
        s,
        () => collectAdapter(layout, s, undefined, maxSteps > 0 ? maxSteps : null),
        (err) => ({ ...empty(s, err), versions: [], collected: [], configDiffs: [] }),
      );
    }),
  );
  const evals = await Promise.all(
    of('evals').map((s) =>
      guarded(
        s,
        () => collectEval(layout, s, pipeline.stages.get(s)!.config as never),
        (err) => ({ ...empty(s, err), datasets: [], metrics: [], rows: [], gateConfig: null, runs: [] }),
      ),
    ),
  );
  const compositions = await Promise.all(
    of('compositions').map((s) =>
      guarded(
        s,
        () => collectComposition(layout, s),
        (err) => ({ ...empty(s, err), pinReason: null, adapters: [], versions: [], events: [] }),
      ),
    ),
  );
  const shown = new Set([...of('adapters'), ...of('evals'), ...of('compositions'), ...datasets.map((d) => d.stage)]);
  return {
    title: basename(pipeline.projectDir),
    description: typeof pipeline.config.description === 'string' ? pipeline.config.description : '',
    projectDir: pipeline.projectDir,
    pipelineFile: pipeline.file,
    generatedAt: (opts.now ?? new Date()).toISOString(),
    graph,
    running: lockHolder(layout) ?? null,
    adapters,
    evals,
    compositions,
    datasets,
    problems,
    others: pipeline.order
      .filter((n) => !shown.has(n))
      .map((n) => {
        const ref = graph.find((g) => g.name === n)!.version !== null ? readRefQuietly(layout, n) : undefined;
        return {
          stage: n,
          kind: pipeline.stages.get(n)!.kind.kind,
          current: ref?.current ?? null,
          pinned: Boolean(ref?.pinned),
          versions: ref?.versions.length ?? 0,
        };
      }),
  };
}
