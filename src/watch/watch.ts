// Watch mode: chokidar on every declared input and on pipeline.json (the store ignored), debounced; a change is
// re-planned and built only if some stage is stale (so a touch with unchanged content does nothing); changes
// during a build are coalesced into one follow-up build; an invalid pipeline.json is reported and watching goes on.
// A build refused because another holds the lock is retried (the change kept pending) until the lock frees.
import { watch as chokidarWatch, type FSWatcher } from 'chokidar';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { PeftError } from '../errors.ts';
import { loadPipeline } from '../config/load.ts';
import type { Pipeline } from '../config/types.ts';
import type { Toolchain } from '../stage.ts';
import { globBase, isGlob } from '../util/paths.ts';
import { build, statusOf } from '../exec/build.ts';
import type { BuildReport, Reporter } from '../exec/reporter.ts';

export type WatchEvent =
  | { type: 'ready'; paths: string[] }
  | { type: 'change'; paths: string[] }
  | { type: 'unchanged' }
  | { type: 'build'; report: BuildReport }
  | { type: 'invalid'; error: PeftError }
  | { type: 'locked'; error: PeftError }
  | { type: 'reloaded'; stages: number }
  | { type: 'error'; error: unknown };

export interface WatchOptions {
  /** The stage kinds and engine version, handed in by the entry point. */
  toolchain: Toolchain;
  file?: string;
  targets?: readonly string[];
  jobs?: number;
  keepGoing?: boolean;
  debounceMs?: number;
  /** How long each build attempt waits for another build's lock before trying again (default 30 s). */
  lockWaitSeconds?: number;
  signal: AbortSignal;
  reporter?: Reporter;
  onEvent: (e: WatchEvent) => void;
}

/** Paths to watch for a pipeline: the file itself, each input's file / dir / glob base, params files. */
export function watchedPaths(p: Pipeline): string[] {
  const out = new Set<string>([p.file]);
  for (const e of p.stages.values()) {
    for (const f of e.files) out.add(resolve(p.projectDir, isGlob(f) ? globBase(f) : f));
    for (const f of e.deps.externalFiles ?? []) out.add(resolve(p.projectDir, f));
    for (const pf of e.deps.paramsFiles ?? []) out.add(resolve(p.projectDir, pf.file));
  }
  return [...out].sort();
}

export async function watchPipeline(opts: WatchOptions): Promise<void> {
  const file = resolve(opts.file ?? 'pipeline.json');
  const projectDir = dirname(file);
  const store = resolve(projectDir, 'artifacts');
  let pipeline: Pipeline | undefined;
  let watcher: FSWatcher | undefined;
  let watching = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let busy = false;
  let pending = new Set<string>();
  let configChanged = false;
  let locked = false;

  const load = (): void => {
    try {
      pipeline = loadPipeline(file, { cwd: projectDir, kinds: opts.toolchain.kinds });
      opts.onEvent({ type: 'reloaded', stages: pipeline.order.length });
    } catch (e) {
      if (e instanceof PeftError && String(e.code).startsWith('E_CONFIG')) {
        pipeline = undefined;
        opts.onEvent({ type: 'invalid', error: e });
      } else throw e;
    }
  };

  const sync = (): void => {
    const want = new Set(pipeline ? watchedPaths(pipeline) : [file]);
    want.add(file);
    const add = [...want].filter((x) => !watching.has(x));
    const drop = [...watching].filter((x) => !want.has(x));
    if (add.length) watcher!.add(add);
    if (drop.length) watcher!.unwatch(drop);
    watching = want;
  };

  const run = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    try {
      while (pending.size || configChanged) {
        const changed = [...pending].map((x) => (isAbsolute(x) ? relative(projectDir, x) : x)).sort();
        pending = new Set();
        if (!locked) opts.onEvent({ type: 'change', paths: changed }); // a retry after the lock is not a new change
        if (configChanged) {
          configChanged = false;
          load();
          sync();
        }
        if (!pipeline) continue;
        try {
          const status = await statusOf({ toolchain: opts.toolchain, pipeline, targets: opts.targets, signal: opts.signal });
          if (status.stages.every((s) => s.action === 'fresh')) {
            opts.onEvent({ type: 'unchanged' });
            continue;
          }
          const report = await build({
            toolchain: opts.toolchain,
            pipeline,
            targets: opts.targets,
            jobs: opts.jobs,
            keepGoing: opts.keepGoing,
            signal: opts.signal,
            reporter: opts.reporter,
            waitSeconds: opts.lockWaitSeconds ?? 30,
          });
          locked = false;
          opts.onEvent({ type: 'build', report });
        } catch (e) {
          if (opts.signal.aborted) return;
          if (e instanceof PeftError && e.code === 'E_LOCKED') {
            // Another build holds the lock: keep the change and try again (said once per wait, not per attempt).
            if (!locked) opts.onEvent({ type: 'locked', error: e });
            locked = true;
            for (const c of changed) pending.add(resolve(projectDir, c));
            if (!pending.size) pending.add(file);
            await new Promise((r) => setTimeout(r, 200));
            continue;
          }
          opts.onEvent({ type: 'error', error: e });
        }
      }
    } finally {
      busy = false;
    }
  };

  const onFsEvent = (path: string): void => {
    const abs = resolve(projectDir, path);
    if (abs === store || abs.startsWith(`${store}/`)) return;
    if (abs === file) configChanged = true;
    pending.add(abs);
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      void run();
    }, opts.debounceMs ?? 100);
  };

  load();
  watcher = chokidarWatch([], {
    ignoreInitial: true,
    ignored: (p: string) => p === store || p.startsWith(`${store}/`) || /(^|\/)(\.git|node_modules)(\/|$)/.test(p),
  });
  sync();
  watcher.on('all', (_event, path) => onFsEvent(path));
  await new Promise<void>((r) => watcher!.once('ready', () => r()));
  opts.onEvent({ type: 'ready', paths: [...watching].map((x) => relative(projectDir, x) || '.') });
  // A first build so the watch starts from an up-to-date tree.
  configChanged = false;
  pending.add(file);
  await run();
  await new Promise<void>((r) => {
    if (opts.signal.aborted) return r();
    opts.signal.addEventListener('abort', () => r(), { once: true });
  });
  if (timer) clearTimeout(timer);
  await watcher.close();
  while (busy) await new Promise((r) => setTimeout(r, 20));
}
