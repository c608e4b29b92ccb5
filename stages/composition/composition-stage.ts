// Builds a `compositions.<name>` stage: `stack` records the base and the adapters (keys, dirs, weights) to apply
// side by side at runtime; merge methods (cat, linear, svd, ties, dare_linear) write one PEFT adapter via merge.ts.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PeftError } from '../../src/errors.ts';
import type { RunContext, RunResult } from '../../src/stage.ts';
import { readAdapterMeta, upstreamOf } from '../shared/adapter-artifact.ts';
import { modelDirOf } from '../shared/model-dir.ts';
import { portablePath } from '../../src/util/portable-path.ts';
import { COMPOSITION_FILE, type CompositionFile } from '../shared/composition-file.ts';
import { mergeAdapterDirs, type MergeMethod } from './merge.ts';

export interface ComposeConfig {
  base: string;
  adapters: { name: string; weight?: number }[];
  method?: 'stack' | MergeMethod;
  density?: number;
  rank?: number;
  seed?: number;
}

export const MERGED_DIR = 'adapter';

export async function runCompositionStage(ctx: RunContext<ComposeConfig>): Promise<RunResult> {
  const c = ctx.config;
  const method = c.method ?? 'stack';
  const modelArt = upstreamOf(ctx, `models.${c.base}`);
  const adapters = c.adapters.map((a) => {
    const art = upstreamOf(ctx, `adapters.${a.name}`);
    const meta = readAdapterMeta(art.dir);
    if (meta.base.key !== modelArt.key)
      throw new PeftError(
        'E_ADAPTER',
        `${ctx.name}: adapter "${a.name}" was trained on models.${meta.base.name} (${meta.base.key.slice(0, 12)}), not on models.${c.base} (${modelArt.key.slice(0, 12)})`,
        {
          hint: `compose adapters of one base, or set "base": "${meta.base.name}"`,
        },
      );
    return { name: a.name, key: art.key, version: art.version, dir: art.dir, weight: a.weight ?? 1, meta };
  });
  // An adapter trained on top of others expects them beneath it: say so when the composition leaves one out.
  const names = new Set(c.adapters.map((a) => a.name));
  for (const a of adapters)
    for (const s of a.meta.stack)
      if (!names.has(s.name)) ctx.log(`${ctx.name}: note: adapter "${a.name}" was trained on top of "${s.name}", which this composition does not include`);
  const file: CompositionFile = {
    name: ctx.name.replace(/^compositions\./, ''),
    method,
    base: { name: c.base, key: modelArt.key, modelDir: portablePath(ctx.projectDir, modelDirOf(modelArt.dir)) },
    adapters: adapters.map(({ name, key, version, dir, weight }) => ({ name, key, version, dir: portablePath(ctx.projectDir, dir), weight })),
  };
  let summary = `stack of ${adapters.map((a) => `${a.name}×${a.weight}`).join(' + ')}`;
  if (method !== 'stack') {
    const merged = mergeAdapterDirs(
      adapters.map((a) => ({ adapter: a.dir, weight: a.weight, name: a.name })),
      join(ctx.outDir, MERGED_DIR),
      { method, density: c.density ?? 0.5, seed: c.seed ?? 0, svdRank: c.rank ? c.rank : undefined },
    );
    file.merged = { dir: MERGED_DIR, r: merged.r, method: merged.method };
    summary = `${merged.method} merge of ${adapters.map((a) => `${a.name}×${a.weight}`).join(' + ')} → rank ${merged.r}`;
  }
  writeFileSync(join(ctx.outDir, COMPOSITION_FILE), JSON.stringify(file, null, 2) + '\n');
  return { metrics: { adapters: adapters.length, ...(file.merged ? { rank: file.merged.r } : {}) }, summary };
}
