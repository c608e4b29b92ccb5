// What an export writes from: the base model directory and the adapters (PEFT dirs with weights) of an adapter
// stage (with the frozen stack it was trained on) or a composition (stacked adapters, or its one merged adapter).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PeftError } from '../../src/errors.ts';
import type { RunContext, UpstreamArtifact } from '../../src/stage.ts';
import { modelDirOf } from '../shared/model-dir.ts';
import { readAdapterMeta, storeDir, upstreamOf, type AdapterMeta } from '../shared/adapter-artifact.ts';
import { readCompositionFile } from '../shared/composition-file.ts';

export interface ExportAdapter {
  name: string;
  dir: string; // a PEFT adapter directory
  weight: number; // multiplies the adapter's own scaling
  key: string;
  meta?: AdapterMeta; // trained adapters only
  metrics?: Record<string, unknown>;
}

export interface ExportSource {
  what: string; // `adapters.task` / `compositions.assistant (cat, rank 16)` for messages
  baseName: string;
  modelDir: string;
  /** The adapters as the model applies them (an adapter's frozen stack first). */
  adapters: ExportAdapter[];
  /** The one adapter a `peft` export writes at the top; absent for a stack composition (each goes in a sub-directory). */
  primary?: ExportAdapter;
  composition?: { name: string; method: string };
}

function metricsOf(art: UpstreamArtifact | undefined, dir: string): Record<string, unknown> | undefined {
  if (art?.manifest?.metrics && Object.keys(art.manifest.metrics).length) return art.manifest.metrics;
  const f = join(dir, 'metrics.json');
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown>) : undefined;
}

function trainedAdapter(name: string, art: UpstreamArtifact, weight: number): ExportAdapter {
  return { name, dir: art.dir, weight, key: art.key, meta: readAdapterMeta(art.dir), metrics: metricsOf(art, art.dir) };
}

export function exportSource(ctx: Pick<RunContext, 'name' | 'upstream'>, c: { adapter?: string; composition?: string }): ExportSource {
  if (c.adapter) {
    const art = upstreamOf(ctx, `adapters.${c.adapter}`);
    const top = trainedAdapter(c.adapter, art, 1);
    const meta = top.meta!;
    const stack = meta.stack.map((e) => {
      const dir = storeDir(art, e.key);
      return { name: e.name, dir, weight: 1, key: e.key, meta: readAdapterMeta(dir), metrics: metricsOf(undefined, dir) };
    });
    const modelArt = ctx.upstream[`models.${meta.base.name}`];
    const modelDir = modelArt ? modelDirOf(modelArt.dir) : meta.base.modelDir;
    return { what: `adapters.${c.adapter}`, baseName: meta.base.name, modelDir, adapters: [...stack, top], primary: top };
  }
  if (c.composition) {
    const art = upstreamOf(ctx, `compositions.${c.composition}`);
    const file = readCompositionFile(art.dir);
    const modelArt = ctx.upstream[`models.${file.base.name}`];
    const modelDir = modelArt ? modelDirOf(modelArt.dir) : file.base.modelDir;
    const composition = { name: c.composition, method: file.method };
    if (file.merged) {
      const merged: ExportAdapter = { name: c.composition, dir: join(art.dir, file.merged.dir), weight: 1, key: art.key };
      return {
        what: `compositions.${c.composition} (${file.merged.method}, rank ${file.merged.r})`,
        baseName: file.base.name,
        modelDir,
        adapters: [merged],
        primary: merged,
        composition,
      };
    }
    const adapters = file.adapters.map((a) => {
      const dir = join(art.dir, '..', a.key);
      const d = existsSync(join(dir, 'adapter_model.safetensors')) ? dir : a.dir;
      if (!existsSync(join(d, 'adapter_model.safetensors')))
        throw new PeftError('E_STORE', `${ctx.name}: adapter ${a.name} (${a.key.slice(0, 12)}) of compositions.${c.composition} is missing from the store`, {
          hint: 'rebuild the pipeline',
        });
      return {
        name: a.name,
        dir: d,
        weight: a.weight,
        key: a.key,
        meta: existsSync(join(d, 'adapter.json')) ? readAdapterMeta(d) : undefined,
        metrics: metricsOf(undefined, d),
      };
    });
    return { what: `compositions.${c.composition} (stack)`, baseName: file.base.name, modelDir, adapters, composition };
  }
  throw new PeftError('E_CONFIG_SCHEMA', `${ctx.name}: give "adapter" or "composition"`);
}
