// The models `peftmake serve` offers, read from the store's refs: every composition, adapter and base model at its
// current version (`name@v3` pins one from the history), resolved into a base directory and an adapter stack. Refs are
// read on each lookup, so a build, rollback or unpin is served from the next request on, with no lock taken; a watcher
// on artifacts/refs reports the switches. Loaded engines and adapters are cached by directory (store objects never change).
import { existsSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { PeftError } from '../errors.ts';
import { StoreLayout } from '../store/layout.ts';
import { findVersion, listRefs, readRef, type StageRef, type VersionRecord } from '../store/refs.ts';
import { modelDirOf } from '../tokenizer/model-dir.ts';
import { runtimeAdapters } from '../../stages/composition/composition-file.ts';
import { readAdapterMeta } from '../../stages/adapter/adapter-artifact.ts';
import { loadModel, type AdapterUse, type EngineAdapter, type EngineModel, type Quant } from '../engine/model.ts';
import { BatchDecoder, type BatchOptions } from '../engine/batch.ts';
import { notFound, badRequest } from './errors.ts';

export type ModelKind = 'composition' | 'adapter' | 'model';

export interface StackEntry {
  name: string;
  dir: string;
  weight: number;
}

export interface ServedModel {
  id: string; // as asked for: name or name@vN
  name: string;
  kind: ModelKind;
  stage: string;
  version: number;
  current: boolean; // the ref's current version (not a pin from the history)
  key: string;
  created: number; // unix seconds
  base: { name: string; dir: string };
  adapters: StackEntry[];
  merged: boolean;
}

/** Per-request switches on a model's adapters: the extra body field `adapters` (see docs/serve.md). */
export interface AdapterOverrides {
  disable?: string[];
  weights?: Record<string, number>;
}

const SECTIONS: [string, ModelKind][] = [
  ['compositions', 'composition'],
  ['adapters', 'adapter'],
  ['models', 'model'],
];

export interface Runtime {
  engine: EngineModel;
  decoder: BatchDecoder;
  adapters: AdapterUse[];
}

export class ModelRegistry {
  readonly layout: StoreLayout;
  private engines = new Map<string, Promise<{ engine: EngineModel; decoder: BatchDecoder }>>();
  private adapterCache = new Map<string, Promise<EngineAdapter>>();
  private watcher?: FSWatcher;
  private seen = new Map<string, number>();

  constructor(
    projectDir: string,
    readonly opts: { quant?: Quant; batch?: BatchOptions; onStep?: (rows: number, seconds: number) => void } = {},
  ) {
    this.layout = new StoreLayout(projectDir);
  }

  /** Every servable stage at its current version. */
  list(): ServedModel[] {
    const out: ServedModel[] = [];
    for (const ref of listRefs(this.layout)) {
      const [section, ...rest] = ref.stage.split('.');
      const kind = SECTIONS.find(([s]) => s === section)?.[1];
      if (!kind) continue;
      const v = ref.versions.find((x) => x.version === ref.current);
      if (!v) continue;
      try {
        out.push(this.describe(rest.join('.'), kind, ref, v, rest.join('.'), true));
      } catch {
        // an object missing from the store (gc, a partial copy) is not offered; asking for it gives its error
      }
    }
    const order = (k: ModelKind) => SECTIONS.findIndex(([, x]) => x === k);
    return out.sort((a, b) => order(a.kind) - order(b.kind) || a.name.localeCompare(b.name));
  }

  /** `name`, `section.name`, `name@v3` or `name@3` to the model it names (404 when there is none). */
  resolve(id: string, overrides: AdapterOverrides = {}): ServedModel {
    const m = /^(.+?)(?:@v?(\d+))?$/.exec(id);
    if (!m || !id) throw notFound(`the model "${id}" does not exist`);
    const [, spec, pin] = m;
    const dot = spec.indexOf('.');
    const sections = dot > 0 && SECTIONS.some(([s]) => s === spec.slice(0, dot)) ? SECTIONS.filter(([s]) => s === spec.slice(0, dot)) : SECTIONS;
    const name = sections.length === 1 && dot > 0 && spec.startsWith(`${sections[0][0]}.`) ? spec.slice(dot + 1) : spec;
    for (const [section, kind] of sections) {
      const ref = readRef(this.layout, `${section}.${name}`);
      if (!ref) continue;
      const v = pin === undefined ? ref.versions.find((x) => x.version === ref.current) : findVersion(ref, Number(pin));
      if (!v) {
        if (pin === undefined) continue;
        throw notFound(`the model "${name}" has no version v${pin} (it has ${ref.versions.map((x) => `v${x.version}`).join(', ')})`);
      }
      return applyOverrides(this.describe(id, kind, ref, v, name, v.version === ref.current), overrides);
    }
    const known = this.list().map((x) => x.name);
    throw notFound(`the model "${id}" does not exist in ${this.layout.root}${known.length ? ` (served: ${known.join(', ')})` : ' (nothing is built yet: run `peftmake build`)'}`);
  }

  private describe(id: string, kind: ModelKind, ref: StageRef, v: VersionRecord, name: string, current: boolean): ServedModel {
    const dir = this.layout.object(v.key);
    if (!existsSync(dir)) throw notFound(`${ref.stage} v${v.version} (${v.key.slice(0, 12)}) is not in the store any more (removed by gc?)`);
    const common = { id, name, kind, stage: ref.stage, version: v.version, current, key: v.key, created: Math.floor(Date.parse(v.createdAt) / 1000) };
    if (kind === 'composition') {
      const { file, adapters } = runtimeAdapters(dir, { objectsDir: this.layout.objects });
      return { ...common, base: { name: file.base.name, dir: file.base.modelDir }, adapters, merged: Boolean(file.merged) };
    }
    if (kind === 'adapter') {
      const meta = readAdapterMeta(dir);
      const stack = meta.stack.map((e) => ({ name: e.name, dir: this.layout.object(e.key), weight: 1 }));
      return { ...common, base: { name: meta.base.name, dir: meta.base.modelDir }, adapters: [...stack, { name, dir, weight: 1 }], merged: false };
    }
    return { ...common, base: { name, dir: modelDirOf(dir) }, adapters: [], merged: false };
  }

  /** The loaded base (one engine and one batch decoder per base directory) and the model's adapters. */
  async runtime(model: ServedModel): Promise<Runtime> {
    const quant = this.opts.quant ?? 'none';
    const ek = `${model.base.dir}|${quant}`;
    let e = this.engines.get(ek);
    if (!e) {
      e = loadModel({ dir: model.base.dir, quant }).then((engine) => {
        const decoder = new BatchDecoder(engine, this.opts.batch);
        decoder.onStep = this.opts.onStep;
        return { engine, decoder };
      });
      this.engines.set(ek, e);
      e.catch(() => this.engines.delete(ek));
    }
    const { engine, decoder } = await e;
    const adapters: AdapterUse[] = [];
    for (const a of model.adapters) {
      const ak = `${ek}|${a.dir}`;
      let p = this.adapterCache.get(ak);
      if (!p) {
        p = engine.loadAdapter(a.dir, a.name);
        this.adapterCache.set(ak, p);
        p.catch(() => this.adapterCache.delete(ak));
      }
      adapters.push({ adapter: await p, weight: a.weight });
    }
    return { engine, decoder, adapters };
  }

  /** Decoders loaded so far (metrics: queue depth and running sequences). */
  async decoders(): Promise<BatchDecoder[]> {
    const out: BatchDecoder[] = [];
    for (const p of this.engines.values()) out.push((await p.catch(() => undefined))?.decoder as BatchDecoder);
    return out.filter(Boolean);
  }

  /** Calls `onSwitch` when a servable stage's current version changes (build, rollback, unpin). */
  watch(onSwitch: (stage: string, from: number | undefined, to: number) => void): void {
    const scan = () => {
      for (const ref of listRefs(this.layout)) {
        const before = this.seen.get(ref.stage);
        if (before !== ref.current) {
          this.seen.set(ref.stage, ref.current);
          if (before !== undefined || this.watcher) onSwitch(ref.stage, before, ref.current);
        }
      }
    };
    scan();
    const attach = () => {
      try {
        this.watcher = watch(this.layout.refs, () => {
          try {
            scan();
          } catch {
            // a ref mid-write: the next event rescans
          }
        });
      } catch {
        this.watcher = undefined;
      }
    };
    if (existsSync(this.layout.refs)) attach();
    else {
      // no build yet: look for the refs directory until it appears
      const t = setInterval(() => {
        if (existsSync(this.layout.refs)) {
          clearInterval(t);
          attach();
          scan();
        }
      }, 1000);
      t.unref();
    }
  }

  close(): void {
    this.watcher?.close();
    for (const p of this.engines.values()) void p.then((x) => x.decoder.close(), () => {});
  }
}

function applyOverrides(m: ServedModel, o: AdapterOverrides): ServedModel {
  const names = m.adapters.map((a) => a.name);
  const disable = o.disable ?? [];
  const weights = o.weights ?? {};
  if (!disable.length && !Object.keys(weights).length) return m;
  if (m.merged)
    throw badRequest(`model "${m.name}" is merged into one adapter ("${m.kind}" built with a merge method); only stacked compositions can switch adapters off or reweight them`, 'adapters');
  for (const d of [...disable, ...Object.keys(weights)])
    if (!names.includes(d)) throw badRequest(`model "${m.name}" has no adapter "${d}" (it has ${names.length ? names.join(', ') : 'none'})`, 'adapters');
  const adapters = m.adapters.filter((a) => !disable.includes(a.name)).map((a) => (a.name in weights ? { ...a, weight: weights[a.name] } : a));
  return { ...m, adapters };
}

/** The project directory holding artifacts/, checked. */
export function checkProject(dir: string): void {
  if (!existsSync(dir)) throw new PeftError('E_NOT_FOUND', `project directory ${dir} does not exist`);
  if (!existsSync(join(dir, 'pipeline.json')) && !existsSync(join(dir, 'artifacts')))
    throw new PeftError('E_NOT_FOUND', `${dir} has neither pipeline.json nor artifacts/`, { hint: 'run `peftmake serve` in a project directory (or pass --project DIR)' });
}
