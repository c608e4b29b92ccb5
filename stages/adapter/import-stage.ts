// Imports a PEFT LoRA adapter (`adapters.<name>.import`) from a path or the hub (revision resolved to a commit sha,
// files in the HF cache, offline after the first time), validates it against the base (config, target modules,
// lora_A / lora_B shapes, rank, alpha, rsLoRA, fan_in_fan_out) and commits it as an adapter artifact like a trained one.
import { copyFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { readAdapterConfig } from '../../src/engine/adapter-files.ts';
import { readT5AdapterConfig } from '../../src/engine/t5.ts';
import { ENGINE_VERSION } from '../../src/engine/version.ts';
import { PeftError } from '../../src/errors.ts';
import { downloadRepoFiles } from '../../src/hub/download.ts';
import type { RunContext, RunResult } from '../../src/stage.ts';
import { fitAdapter } from '../shared/adapter-fit.ts';
import { ADAPTER_META, modelDirFor, upstreamOf, type AdapterMeta } from '../shared/adapter-artifact.ts';
import { baseShapes } from '../shared/base-weights.ts';

export interface ImportSpec {
  path?: string;
  hub?: string;
  revision?: string;
}

export interface ImportStageConfig {
  base: string;
  import: ImportSpec;
}

const PEFT_FILES = ['adapter_config.json', 'adapter_model.safetensors'];

/** resolve(): a hub import's files into the HF cache and its commit sha (joins the key). */
export async function resolveImport(spec: ImportSpec, signal?: AbortSignal): Promise<Record<string, unknown>> {
  if (!spec.hub) return {};
  const res = await downloadRepoFiles({ repo: { type: 'model', id: spec.hub }, revision: spec.revision ?? 'main', include: PEFT_FILES }, { signal });
  return { hub: spec.hub, revision: res.revision, sha: res.sha };
}

async function sourceDir(ctx: RunContext<ImportStageConfig>): Promise<{ dir: string; source: Record<string, unknown> }> {
  const spec = ctx.config.import;
  if (spec.path) {
    const dir = isAbsolute(spec.path) ? spec.path : resolve(ctx.projectDir, spec.path);
    if (!existsSync(dir) || !statSync(dir).isDirectory())
      throw new PeftError('E_ADAPTER', `${ctx.name}: import path ${dir} is not a directory`, {
        file: dir,
        pointer: `/adapters/${ctx.name.split('.')[1]}/import/path`,
        hint: 'point it at a PEFT adapter folder (adapter_config.json + adapter_model.safetensors)',
      });
    return { dir, source: { kind: 'path', path: spec.path } };
  }
  const sha = typeof ctx.resolved.sha === 'string' ? ctx.resolved.sha : undefined;
  const res = await downloadRepoFiles(
    { repo: { type: 'model', id: spec.hub! }, revision: sha ?? spec.revision ?? 'main', include: PEFT_FILES },
    { signal: ctx.signal },
  );
  return { dir: res.snapshotDir, source: { kind: 'hub', hub: spec.hub, revision: spec.revision ?? 'main', sha: res.sha } };
}

/** config.json's model_type of the base (its family decides the target names an adapter may have); undefined if unreadable. */
function baseModelType(modelDir: string): string | undefined {
  try {
    const t = (JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8')) as { model_type?: unknown }).model_type;
    return typeof t === 'string' ? t : undefined;
  } catch {
    return undefined; // the fit against the base's weights reports a broken model directory
  }
}

export async function runImportStage(ctx: RunContext<ImportStageConfig>): Promise<RunResult> {
  const c = ctx.config;
  const modelArt = upstreamOf(ctx, `models.${c.base}`);
  const modelDir = modelDirFor(ctx, c.base);
  const { dir, source } = await sourceDir(ctx);
  // The engine's reading of the config (targets it can apply, no DoRA / rank_pattern), then the tensors against the base.
  const modelType = baseModelType(modelDir);
  const cfg = modelType === 't5' ? readT5AdapterConfig(dir) : readAdapterConfig(dir, modelType);
  const fitted = fitAdapter(dir, baseShapes(modelDir), modelDir);
  const targets = new Set(cfg.targets);
  for (const m of fitted.modules) {
    const proj = m.weight.split('.').at(-2)!;
    if (!targets.has(proj))
      throw new PeftError(
        'E_ADAPTER',
        `${join(dir, 'adapter_model.safetensors')}: module "${m.key}" is not among target_modules ${JSON.stringify(cfg.targets)} of adapter_config.json`,
        {
          file: join(dir, 'adapter_config.json'),
          pointer: '/target_modules',
          hint: 'the config and the weights disagree; re-save the adapter with PEFT',
        },
      );
  }
  for (const f of PEFT_FILES) copyFileSync(join(dir, f), join(ctx.outDir, f));
  const meta: AdapterMeta = {
    name: ctx.name.replace(/^adapters\./, ''),
    base: { name: c.base, key: modelArt.key, modelDir },
    data: {
      name: source.kind === 'hub' ? `hub:${String(source.hub)}@${String(source.sha).slice(0, 12)}` : `path:${String(source.path)}`,
      key: String(source.sha ?? ''),
      format: 'peft-import',
    },
    stack: [],
    objective: 'imported',
    params: { r: cfg.r, alpha: cfg.alpha, rslora: cfg.rslora, targets: cfg.targets, imported: source },
  };
  writeFileSync(join(ctx.outDir, ADAPTER_META), JSON.stringify(meta, null, 2) + '\n');
  const metrics = {
    r: cfg.r,
    alpha: cfg.alpha,
    modules: fitted.modules.length,
    params: fitted.modules.reduce((a, m) => a + m.a.data.length + m.b.data.length, 0),
  };
  writeFileSync(join(ctx.outDir, 'metrics.json'), JSON.stringify({ ...metrics, engine_version: ENGINE_VERSION }, null, 2) + '\n');
  const from = source.kind === 'hub' ? `${String(source.hub)}@${String(source.sha).slice(0, 12)}` : String(source.path);
  return {
    metrics,
    summary: `imported ${from}: r ${cfg.r}, alpha ${cfg.alpha}${cfg.rslora ? ' (rsLoRA)' : ''}, ${fitted.modules.length} modules fit models.${c.base}`,
  };
}
