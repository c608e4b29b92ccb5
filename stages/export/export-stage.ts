// Runs an `exports.<name>` stage: writes a trained adapter, or the one adapter of a merged composition, as a PEFT
// directory at a project path (the core captures it into the store and restores it on rollback / revert).
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PeftError } from '../../src/errors.ts';
import type { RunContext, RunResult } from '../../src/stage.ts';
import { upstreamOf } from '../shared/adapter-artifact.ts';
import { readCompositionFile } from '../shared/composition-file.ts';

export interface ExportStageConfig {
  adapter?: string;
  composition?: string;
  path: string;
  format?: string;
}

const PEFT_FILES = ['adapter_config.json', 'adapter_model.safetensors'];

export async function runExportStage(ctx: RunContext<ExportStageConfig>): Promise<RunResult> {
  const c = ctx.config;
  let src: string;
  let what: string;
  if (c.adapter) {
    src = upstreamOf(ctx, `adapters.${c.adapter}`).dir;
    what = `adapters.${c.adapter}`;
  } else if (c.composition) {
    const art = upstreamOf(ctx, `compositions.${c.composition}`);
    const file = readCompositionFile(art.dir);
    if (!file.merged)
      throw new PeftError('E_CONFIG_SEMANTIC', `${ctx.name}: compositions.${c.composition} uses method "${file.method}", which keeps its adapters apart; only a merged composition is one PEFT adapter`, {
        hint: 'set "method": "cat" (exact) on the composition, or export each adapter with "adapter"',
      });
    src = join(art.dir, file.merged.dir);
    what = `compositions.${c.composition} (${file.merged.method}, rank ${file.merged.r})`;
  } else throw new PeftError('E_CONFIG_SCHEMA', `${ctx.name}: give "adapter" or "composition"`);
  const dst = resolve(ctx.projectDir, c.path);
  rmSync(dst, { recursive: true, force: true });
  mkdirSync(dst, { recursive: true });
  for (const f of PEFT_FILES) {
    if (!existsSync(join(src, f))) throw new PeftError('E_STORE', `${ctx.name}: ${join(src, f)} is missing from the store`, { hint: `rebuild ${what}` });
    copyFileSync(join(src, f), join(dst, f));
  }
  writeFileSync(join(ctx.outDir, 'export.json'), JSON.stringify({ from: what, path: c.path, format: c.format ?? 'peft' }, null, 2) + '\n');
  return { summary: `${what} → ${c.path}/ (PEFT)` };
}
