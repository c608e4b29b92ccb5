// The models `peftmake serve` offers, read from the store's refs: every stage whose kind says what inference loads
// (compositions, adapters, base models) at its current version (`name@v3` pins one from the history), resolved
// through that kind's inferenceStack into a base directory and an adapter stack. Refs are
// read on each lookup, so a build, rollback or unpin is served from the next request on, with no lock taken; a watcher
// on artifacts/refs reports the switches. Loaded engines and adapters are cached by directory (store objects never change).
import { existsSync, readFileSync, watch, type FSWatcher } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';
import { PeftError } from '../errors.ts';
import { StoreLayout } from '../store/layout.ts';
import { findVersion, listRefs, readRef, type StageRef, type VersionRecord } from '../store/refs.ts';
import { requireManifest } from '../store/objects.ts';
import type { InferenceStack, StageKind, Toolchain } from '../stage.ts';
import { loadModel, type AdapterUse, type EngineAdapter, type EngineModel, type ComputeMode, type Quant } from '../engine/model.ts';
import { BatchDecoder, type BatchOptions, type BatchStats, type DecodeHandlers, type DecodeRequest } from '../engine/batch.ts';
import { loadT5Model, type T5Adapter, type T5AdapterUse, type T5Model } from '../engine/t5.ts';
import { T5Decoder } from '../engine/t5-decoder.ts';
import { seq2seqModel } from '../hf/model-family.ts';
import type { ModelTokenizer } from '../hf/tokenizer.ts';
import { HashCache } from '../hash/hash-cache.ts';
import { verifyObject } from '../store/verify.ts';
import { HttpError, notFound, badRequest } from './errors.ts';
import type { InferencePrompt } from '../hf/prompt-format.ts';

export type ModelKind = string; // the stage kind: composition, adapter, model

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
  /** The chat template its adapters were trained with (from the kind's inferenceStack); absent: the base's. */
  prompt?: InferencePrompt;
}

/** Per-request switches on a model's adapters: the extra body field `adapters` (see docs/serve.md). */
export interface AdapterOverrides {
  disable?: string[];
  weights?: Record<string, number>;
}

/** A loaded model as the routes use it, whatever its family: tokenizer, limits, and generation with its adapter stack. */
export interface Runtime {
  tokenizer: ModelTokenizer;
  vocabSize: number;
  /** Context in tokens: a decoder's, for the prompt and the answer together; an encoder-decoder's, for each of them. */
  context: number;
  /** An encoder-decoder (T5): the prompt is the encoder's input (its tokens and </s>), the answer the decoder's. */
  seq2seq?: { eos: number };
  /** One sequence through the model's (batch or T5) decoder with this model's adapter stack. */
  generate(req: Omit<DecodeRequest, 'adapters'>, h: DecodeHandlers): Promise<'stop' | 'length' | 'cancelled'>;
}

type Loaded = { engine: EngineModel; decoder: BatchDecoder; t5?: undefined } | { t5: T5Model; decoder: T5Decoder; engine?: undefined };

export class ModelRegistry {
  readonly layout: StoreLayout;
  private engines = new Map<string, Promise<Loaded>>();
  private adapterCache = new Map<string, Promise<EngineAdapter | T5Adapter>>();
  private watcher?: FSWatcher;
  private seen = new Map<string, number>();

  /** Servable kinds in lookup and listing order: those that say what inference loads. */
  private readonly kinds: StageKind[];

  constructor(
    projectDir: string,
    toolchain: Toolchain,
    readonly opts: { quant?: Quant; compute?: ComputeMode; batch?: BatchOptions; onStep?: (rows: number, seconds: number, prefillRows: number) => void } = {},
  ) {
    this.layout = new StoreLayout(projectDir);
    const order = ['compositions', 'adapters', 'models'];
    const rank = (k: StageKind) => (order.includes(k.section) ? order.indexOf(k.section) : order.length);
    this.kinds = toolchain.kinds.filter((k) => k.inferenceStack).sort((a, b) => rank(a) - rank(b));
  }

  /** Every servable stage at its current version. */
  list(): ServedModel[] {
    const out: ServedModel[] = [];
    for (const ref of listRefs(this.layout)) {
      const [section, ...rest] = ref.stage.split('.');
      const kind = this.kinds.find((k) => k.section === section);
      if (!kind) continue;
      const v = ref.versions.find((x) => x.version === ref.current);
      if (!v) continue;
      try {
        out.push(this.describe(rest.join('.'), kind, ref, v, rest.join('.'), true, {}));
      } catch {
        // an object missing from the store (gc, a partial copy) is not offered; asking for it gives its error
      }
    }
    const order = (k: string) => this.kinds.findIndex((x) => x.kind === k);
    return out.sort((a, b) => order(a.kind) - order(b.kind) || a.name.localeCompare(b.name));
  }

  /** `name`, `section.name`, `name@v3` or `name@3` to the model it names (404 when there is none). */
  resolve(id: string, overrides: AdapterOverrides = {}): ServedModel {
    const m = /^(.+?)(?:@v?(\d+))?$/.exec(id);
    if (!m || !id) throw notFound(`the model "${id}" does not exist`);
    const [, spec, pin] = m;
    const dot = spec.indexOf('.');
    const named = dot > 0 ? this.kinds.filter((k) => k.section === spec.slice(0, dot)) : [];
    const kinds = named.length ? named : this.kinds;
    const name = named.length ? spec.slice(dot + 1) : spec;
    for (const kind of kinds) {
      const ref = readRef(this.layout, `${kind.section}.${name}`);
      if (!ref) continue;
      const v = pin === undefined ? ref.versions.find((x) => x.version === ref.current) : findVersion(ref, Number(pin));
      if (!v) {
        if (pin === undefined) continue;
        throw notFound(`the model "${name}" has no version v${pin} (it has ${ref.versions.map((x) => `v${x.version}`).join(', ')})`);
      }
      return applyWeights(this.describe(id, kind, ref, v, name, v.version === ref.current, overrides), overrides);
    }
    const known = this.list().map((x) => x.name);
    throw notFound(
      `the model "${id}" does not exist in ${this.layout.root}${known.length ? ` (served: ${known.join(', ')})` : ' (nothing is built yet: run `peftmake build`)'}`,
    );
  }

  private describe(id: string, kind: StageKind, ref: StageRef, v: VersionRecord, name: string, current: boolean, o: AdapterOverrides): ServedModel {
    const dir = this.layout.object(v.key);
    if (!existsSync(dir)) throw notFound(`${ref.stage} v${v.version} (${v.key.slice(0, 12)}) is not in the store any more (removed by gc?)`);
    const manifest = requireManifest(this.layout, v.key, ref.stage);
    let stack: InferenceStack;
    try {
      // a store object never changes: its stack (and prompt format, which may read the base's tokenizer) is kept
      const sk = `${v.key}|${JSON.stringify(o.disable ?? [])}`;
      stack =
        this.stacks.get(sk) ??
        kind.inferenceStack!({ name: ref.stage, kind: kind.kind, key: v.key, version: v.version, dir, manifest }, { disable: o.disable });
      if (this.stacks.size >= 256) this.stacks.clear();
      this.stacks.set(sk, stack);
    } catch (err) {
      if ((err as { code?: string }).code === 'E_USAGE') throw badRequest((err as Error).message, 'adapters');
      throw err;
    }
    const baseName = String((manifest.config as { base?: unknown } | null)?.base ?? name);
    return {
      id,
      name,
      kind: kind.kind,
      stage: ref.stage,
      version: v.version,
      current,
      key: v.key,
      created: Math.floor(Date.parse(v.createdAt) / 1000),
      base: { name: baseName, dir: stack.modelDir },
      adapters: stack.adapters.map((a) => ({ name: a.name, dir: a.dir, weight: a.weight })),
      ...(stack.prompt ? { prompt: stack.prompt } : {}),
    };
  }

  /**
   * Every store object the model reads (its own, its adapters', its base's) checked against its manifest before it is
   * served: the first time each file is hashed in full, then again whenever its size, mtime or inode change (an
   * in-memory stat-keyed cache). A damaged or missing one is a 503 naming it; nothing of it is loaded.
   */
  verify(model: ServedModel): void {
    const keys = new Set<string>();
    for (const d of [this.layout.object(model.key), model.base.dir, ...model.adapters.map((a) => a.dir)]) {
      const rel = relative(this.layout.objects, d);
      if (rel && !rel.startsWith('..') && !isAbsolute(rel)) keys.add(rel.split(sep)[0]);
    }
    for (const key of keys) {
      const r = verifyObject(this.layout, key, { cache: this.hashes });
      if (r.state !== 'ok' && r.state !== 'unverified') {
        const what = key === model.key ? `${model.stage} v${model.version}` : `an object ${model.stage} v${model.version} uses`;
        const more = r.problems.length > 1 ? ` (and ${r.problems.length - 1} more)` : '';
        throw new HttpError(
          503,
          `the model "${model.id}" is not served: ${what} (${key.slice(0, 12)}) is ${r.state === 'missing' ? 'missing from' : 'corrupt in'} the store: ${r.problems[0]}${more}; rebuild it (\`peftmake build\`), \`peftmake fsck\` lists every damaged object`,
          'server_error',
          'model',
          'corrupt_object',
        );
      }
    }
  }
  private hashes = new HashCache();
  private stacks = new Map<string, InferenceStack>();

  /**
   * The loaded base (one engine and one decoder per base directory: the batch decoder, or for a T5 base its one-at-a-time
   * T5 decoder) and the model's adapters, verified first.
   */
  async runtime(model: ServedModel): Promise<Runtime> {
    this.verify(model);
    const quant = this.opts.quant ?? 'none';
    const compute = this.opts.compute ?? 'fp32';
    const ek = `${model.base.dir}|${quant}|${compute}`;
    let e = this.engines.get(ek);
    if (!e) {
      e = (seq2seqModel(model.base.dir) ? this.loadT5(model.base.dir, quant, compute) : this.loadDecoder(model.base.dir, quant, compute)).then((x) => {
        x.decoder.onStep = this.opts.onStep;
        return x;
      });
      this.engines.set(ek, e);
      e.catch(() => this.engines.delete(ek));
    }
    const loaded = await e;
    const load = (a: StackEntry) => {
      const ak = `${ek}|${a.dir}`;
      let p = this.adapterCache.get(ak);
      if (!p) {
        p = loaded.t5 ? loaded.t5.loadAdapter(a.dir, a.name) : loaded.engine.loadAdapter(a.dir, a.name);
        this.adapterCache.set(ak, p);
        p.catch(() => this.adapterCache.delete(ak));
      }
      return p;
    };
    if (loaded.t5) {
      const { t5, decoder } = loaded;
      const adapters: T5AdapterUse[] = [];
      for (const a of model.adapters) adapters.push({ adapter: (await load(a)) as T5Adapter, weight: a.weight });
      const eos = t5.info.eosTokenIds[0];
      if (eos === undefined) throw new PeftError('E_MODEL', `${t5.dir}: the t5 model has no eos_token_id`);
      return {
        tokenizer: t5.tokenizer,
        vocabSize: t5.info.vocabSize,
        context: t5Context(t5.dir),
        seq2seq: { eos },
        generate: (req, h) => decoder.generate({ ...req, adapters }, h),
      };
    }
    const { engine, decoder } = loaded;
    const adapters: AdapterUse[] = [];
    for (const a of model.adapters) adapters.push({ adapter: (await load(a)) as EngineAdapter, weight: a.weight });
    return {
      tokenizer: engine.tokenizer,
      vocabSize: engine.info.vocabSize,
      context: engine.info.maxPositionEmbeddings,
      generate: (req, h) => decoder.generate({ ...req, adapters }, h),
    };
  }

  private async loadDecoder(dir: string, quant: Quant, compute: ComputeMode): Promise<Loaded> {
    const engine = await loadModel({ dir, quant, compute });
    return { engine, decoder: new BatchDecoder(engine, this.opts.batch) };
  }

  private async loadT5(dir: string, quant: Quant, compute: ComputeMode): Promise<Loaded> {
    const t5 = await loadT5Model({ dir, quant, compute });
    return { t5, decoder: new T5Decoder(t5, { maxQueue: this.opts.batch?.maxQueue }) };
  }

  /** Decoders loaded so far (metrics: queue depth and running sequences). */
  async decoders(): Promise<{ stats: BatchStats }[]> {
    const out: { stats: BatchStats }[] = [];
    for (const p of this.engines.values()) {
      const d = (await p.catch(() => undefined))?.decoder;
      if (d) out.push(d);
    }
    return out;
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
    for (const p of this.engines.values())
      void p.then(
        (x) => x.decoder.close(),
        () => {},
      );
  }
}

/** The extra field's weights: each names an adapter of the (already disable-filtered) stack and replaces its weight. */
function applyWeights(m: ServedModel, o: AdapterOverrides): ServedModel {
  const weights = o.weights ?? {};
  const names = m.adapters.map((a) => a.name);
  for (const w of Object.keys(weights))
    if (!names.includes(w))
      throw badRequest(`model "${m.name}" has no adapter "${w}" to reweight (it has ${names.length ? names.join(', ') : 'none'})`, 'adapters');
  return Object.keys(weights).length ? { ...m, adapters: m.adapters.map((a) => (a.name in weights ? { ...a, weight: weights[a.name] } : a)) } : m;
}

/** The project directory holding artifacts/, checked. */
export function checkProject(dir: string): void {
  if (!existsSync(dir)) throw new PeftError('E_NOT_FOUND', `project directory ${dir} does not exist`);
  if (!existsSync(join(dir, 'pipeline.json')) && !existsSync(join(dir, 'artifacts')))
    throw new PeftError('E_NOT_FOUND', `${dir} has neither pipeline.json nor artifacts/`, {
      hint: 'run `peftmake serve` in a project directory (or pass --project DIR)',
    });
}

/** A T5 model's context: config.json's n_positions (what its tokenizer and training assumed; 512 for FLAN-T5), else 512. */
function t5Context(dir: string): number {
  try {
    const n = (JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { n_positions?: unknown }).n_positions;
    return typeof n === 'number' && Number.isInteger(n) && n > 0 ? n : 512;
  } catch {
    return 512;
  }
}
