// What an adapter artifact holds besides its PEFT files (adapter.json: base, dataset, the frozen stack beneath it, the prompt format it was trained on),
// and how dependents find upstream artifacts: a model's directory, an adapter's frozen stack in the store.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PeftError } from '../../src/errors.ts';
import type { RunContext, UpstreamArtifact } from '../../src/stage.ts';
import { modelDirOf } from './model-dir.ts';
import type { PromptFormat } from '../../src/hf/prompt-format.ts';
import { resolvePortable } from '../../src/util/portable-path.ts';

export const ADAPTER_META = 'adapter.json';

export interface StackEntry {
  name: string; // adapter name in `adapters`
  key: string; // its stage key: the artifact directory is objects/<key>
}

export interface AdapterMeta {
  name: string;
  base: { name: string; key: string; modelDir: string }; // written project-relative inside the project; absolute once read (readAdapterMeta)
  data: { name: string; key: string; format?: string };
  /** Frozen adapters beneath this one while it trained, in application order (transitively). */
  stack: StackEntry[];
  objective: 'causal-lm' | 'answer-only' | 'seq2seq' | 'imported'; // seq2seq: an encoder-decoder (T5) trained source -> target
  /** The prompt format of the training data (chat template and its date), for inference; absent in older artifacts. */
  prompt?: PromptFormat;
  params: Record<string, unknown>;
  /** What the engine actually ran: compute mode (auto resolved), kernels per op family, backend and threads. */
  engine?: { compute: string; quant: string; kernels: string; backend: string; threads: number; version: string };
}

export function upstreamOf(ctx: Pick<RunContext, 'name' | 'upstream'>, stage: string): UpstreamArtifact {
  const a = ctx.upstream[stage];
  if (!a) throw new PeftError('E_STORE', `${ctx.name}: upstream ${stage} has no committed artifact`, { hint: `build ${stage} first` });
  return a;
}

export function modelDirFor(ctx: Pick<RunContext, 'name' | 'upstream'>, modelName: string): string {
  return modelDirOf(upstreamOf(ctx, `models.${modelName}`).dir);
}

export function readAdapterMeta(artifactDir: string): AdapterMeta {
  const f = join(artifactDir, ADAPTER_META);
  if (!existsSync(f)) throw new PeftError('E_STORE', `${artifactDir}: no ${ADAPTER_META} (not an adapter artifact)`, { file: f });
  const meta = JSON.parse(readFileSync(f, 'utf8')) as AdapterMeta;
  // written project-relative inside the project (a copied project reads its own model); absolute once read
  if (typeof meta.base?.modelDir !== 'string') return meta;
  return { ...meta, base: { ...meta.base, modelDir: resolvePortable(artifactDir, meta.base.modelDir) } };
}

/** Artifact directory of an adapter in the same store as `sibling` (objects/<key>). */
export function storeDir(sibling: UpstreamArtifact, key: string): string {
  const dir = join(dirname(sibling.dir), key);
  if (!existsSync(join(dir, 'adapter_model.safetensors')))
    throw new PeftError('E_STORE', `adapter artifact ${key.slice(0, 12)} (beneath ${sibling.name}) is missing from the store`, {
      hint: 'rebuild the pipeline; `peftmake gc` never removes referenced versions',
    });
  return dir;
}

/**
 * The frozen stack for `on`: each named adapter preceded by the adapters it was itself trained on, without
 * repeats. Returns entries with the artifact dirs they live in.
 */
export function frozenStackFor(ctx: Pick<RunContext, 'name' | 'upstream'>, on: string[]): (StackEntry & { dir: string })[] {
  const out: (StackEntry & { dir: string })[] = [];
  const seen = new Set<string>();
  for (const n of on) {
    const art = upstreamOf(ctx, `adapters.${n}`);
    const meta = readAdapterMeta(art.dir);
    for (const e of meta.stack) {
      if (seen.has(e.key)) continue;
      seen.add(e.key);
      out.push({ ...e, dir: storeDir(art, e.key) });
    }
    if (!seen.has(art.key)) {
      seen.add(art.key);
      out.push({ name: n, key: art.key, dir: art.dir });
    }
  }
  return out;
}
