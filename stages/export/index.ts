// The `export` stage kind (exports.<name>): an adapter or a composition written at a project path as PEFT, a merged
// Hugging Face model, GGUF (llama.cpp) or ONNX (onnxruntime). A light descriptor: the writers load on first run.
import type { DeclaredDeps, StageKind, StageReference } from '../../src/stage.ts';
import { exportSchema } from './schema.ts';

export interface ExportConfig {
  adapter?: string;
  composition?: string;
  path: string;
  format: 'peft' | 'merged' | 'gguf' | 'onnx';
  dtype?: 'bf16' | 'fp16' | 'fp32';
  maxShardMB?: number;
  type?: string;
}

/** The base model the exported adapter or composition sits on (from the pipeline), so base changes re-export. */
function baseOf(c: ExportConfig, pipeline: Record<string, unknown>): string | undefined {
  const entry = c.adapter
    ? ((pipeline.adapters ?? {}) as Record<string, { base?: string }>)[c.adapter]
    : ((pipeline.compositions ?? {}) as Record<string, { base?: string }>)[c.composition ?? ''];
  return entry?.base;
}

const exportKind: StageKind<ExportConfig> = {
  section: 'exports',
  kind: 'export',
  implVersion: '2',
  schema: exportSchema,
  references(_name, c): StageReference[] {
    if (c.adapter) return [{ pointer: '/adapter', target: `adapters.${c.adapter}` }];
    return c.composition ? [{ pointer: '/composition', target: `compositions.${c.composition}` }] : [];
  },
  workspaceOutputs(_name, c): string[] {
    return [c.path];
  },
  deps(name, c, pipeline): DeclaredDeps {
    const base = baseOf(c, pipeline);
    const upstream = exportKind.references!(name, c).map((r) => r.target);
    if (base) upstream.push(`models.${base}`);
    return { upstream, files: [] };
  },
  run: (ctx) => import('./export-stage.ts').then((m) => m.runExportStage(ctx)),
};

export default exportKind;
