// Builds a `models.<name>` artifact: points at a local model directory or a hub snapshot in the HF cache
// (model.json {"dir": ...}), or writes a seeded random-init model into the artifact; plus info.json metadata.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, resolve as resolvePath } from 'node:path';
import { PeftError } from '../../src/errors.ts';
import { downloadModelFiles } from '../../src/hub/index.ts';
import { initModel, type InitModelOptions } from '../../src/engine/init-model.ts';
import { initT5Model } from '../../src/engine/init-t5.ts';
import type { RunContext, RunResult } from '../../src/stage.ts';
import { portablePath } from '../../src/util/portable-path.ts';

export interface ModelStageConfig {
  path?: string;
  hub?: string;
  revision?: string;
  init?: Record<string, unknown>;
}

/** Sub-folder of the artifact that holds a random-init model (model.json points at it relatively). */
export const INIT_MODEL_SUBDIR = 'model';

export function localModelDir(projectDir: string, path: string): string {
  return isAbsolute(path) ? path : resolvePath(projectDir, path);
}

function checkModelDir(dir: string, what: string): void {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new PeftError('E_MODEL', `${what}: model directory ${dir} does not exist`, { file: dir, hint: 'fix `path` in pipeline.json, or use `hub` / `init`' });
  if (!existsSync(join(dir, 'config.json')))
    throw new PeftError('E_MODEL', `${what}: ${dir} has no config.json (not a Hugging Face model directory)`, {
      file: join(dir, 'config.json'),
      hint: 'point `path` at a folder saved with transformers save_pretrained (config.json, *.safetensors, tokenizer.json)',
    });
}

function readConfigJson(dir: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new PeftError('E_MODEL', `${join(dir, 'config.json')}: not valid JSON (${(err as Error).message})`, { file: join(dir, 'config.json') });
  }
}

/** The shape fields of the schema's `init` block, mapped to the engine helper's options. */
export function initOptions(init: Record<string, unknown>): InitModelOptions {
  const n = (k: string) => init[k] as number | undefined;
  const numHeads = n('numHeads')!;
  return {
    modelType: (init.modelType as InitModelOptions['modelType']) ?? 'llama',
    vocabSize: n('vocabSize') ?? 512,
    hiddenSize: n('hiddenSize')!,
    intermediateSize: n('intermediateSize')!,
    numLayers: n('numLayers')!,
    numHeads,
    numKvHeads: n('numKvHeads') || numHeads,
    headDim: n('headDim') || undefined,
    maxPositionEmbeddings: n('maxPositionEmbeddings') ?? 2048,
    rmsNormEps: n('rmsNormEps') ?? 1e-5,
    ropeTheta: n('ropeTheta') ?? 10000,
    tieWordEmbeddings: (init.tieWordEmbeddings as boolean | undefined) ?? true,
    dtype: (init.dtype as 'F32' | 'BF16' | undefined) ?? 'F32',
    seed: n('seed') ?? 0,
    numExperts: n('numExperts'),
    expertsPerTok: n('expertsPerTok') || undefined, // 0: the model type's default
    rotaryDim: n('rotaryDim') || undefined, // 0: head dim / 2
  };
}

/** The `init` block of a T5 model: hiddenSize is d_model, intermediateSize d_ff, numLayers each stack's depth. */
export function t5InitOptions(init: Record<string, unknown>): Parameters<typeof initT5Model>[1] {
  const n = (k: string) => init[k] as number | undefined;
  return {
    vocabSize: n('vocabSize') ?? 512,
    dModel: n('hiddenSize')!,
    dFf: n('intermediateSize')!,
    numLayers: n('numLayers')!,
    numDecoderLayers: n('numDecoderLayers') || undefined,
    numHeads: n('numHeads')!,
    dKv: n('headDim') || undefined,
    tieWordEmbeddings: (init.tieWordEmbeddings as boolean | undefined) ?? false,
    seed: n('seed') ?? 0,
  };
}

/** resolve(): for a hub model, download (or find in the cache) its files and record the commit sha (joins the key). */
export async function resolveModel(config: ModelStageConfig, signal?: AbortSignal): Promise<Record<string, unknown>> {
  if (!config.hub) return {};
  const res = await downloadModelFiles({ id: config.hub, revision: config.revision ?? 'main' }, { signal });
  return { hub: config.hub, revision: res.revision, sha: res.sha };
}

export async function runModelStage(ctx: RunContext<ModelStageConfig>): Promise<RunResult> {
  const c = ctx.config;
  let dir: string;
  let pointer: Record<string, string>;
  let source: Record<string, unknown>;
  if (c.path) {
    dir = localModelDir(ctx.projectDir, c.path);
    checkModelDir(dir, ctx.name);
    // Inside the project: recorded project-relative, so a copied project reads its own copy of the model.
    const portable = portablePath(ctx.projectDir, dir);
    pointer = isAbsolute(portable) ? { dir } : { project: portable };
    source = { kind: 'path', path: c.path };
  } else if (c.hub) {
    const sha = typeof ctx.resolved.sha === 'string' ? ctx.resolved.sha : undefined;
    // The sha recorded by resolve() pins the snapshot; the cache answers without the network.
    const res = await downloadModelFiles({ id: c.hub, revision: sha ?? c.revision ?? 'main' }, { signal: ctx.signal });
    dir = res.snapshotDir;
    checkModelDir(dir, ctx.name);
    pointer = { dir };
    source = { kind: 'hub', hub: c.hub, revision: c.revision ?? 'main', sha: res.sha };
  } else if (c.init) {
    dir = join(ctx.outDir, INIT_MODEL_SUBDIR);
    const r = c.init.modelType === 't5' ? initT5Model(dir, t5InitOptions(c.init)) : initModel(dir, initOptions(c.init));
    pointer = { dir: INIT_MODEL_SUBDIR }; // relative: the artifact moves from the temp dir into the store
    source = { kind: 'init', init: c.init, numParams: r.numParams };
  } else {
    throw new PeftError('E_CONFIG_SCHEMA', `${ctx.name}: give one of path, hub or init`, { pointer: `/${ctx.name.replace('.', '/')}` });
  }
  const cfg = readConfigJson(dir);
  // GPT-2's config names its width and depth n_embd / n_layer.
  cfg.hidden_size ??= cfg.n_embd;
  cfg.num_hidden_layers ??= cfg.n_layer;
  writeFileSync(join(ctx.outDir, 'model.json'), JSON.stringify(pointer, null, 2) + '\n');
  const info = {
    source,
    modelType: cfg.model_type,
    vocabSize: cfg.vocab_size,
    hiddenSize: cfg.hidden_size ?? cfg.d_model,
    numLayers: cfg.num_hidden_layers ?? cfg.num_layers,
    hasTokenizer: existsSync(join(dir, 'tokenizer.json')),
  };
  writeFileSync(join(ctx.outDir, 'info.json'), JSON.stringify(info, null, 2) + '\n');
  const what = c.path ? `local ${c.path}` : c.hub ? `${c.hub}@${String(source.sha).slice(0, 12)}` : 'random init';
  return {
    metrics: { vocab_size: cfg.vocab_size as number, layers: info.numLayers as number, hidden_size: info.hiddenSize as number },
    summary: `${what}: ${String(cfg.model_type)} ${String(info.numLayers)} layers, d=${String(info.hiddenSize)}`,
  };
}
