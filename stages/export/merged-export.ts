// `format: "merged"`: the base with the adapter (its frozen stack beneath) or the composition folded in, as a
// Hugging Face model directory (see merged-writer.ts), with a model card.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunContext } from '../../src/stage.ts';
import { fitAdapter, isConv1dModel } from '../shared/adapter-fit.ts';
import { baseShapes, readBaseWeights } from '../shared/base-weights.ts';
import { cardBase } from './card-context.ts';
import type { ExportStageConfig, FormatResult } from './export-stage.ts';
import type { ExportSource } from './export-source.ts';
import { mergeIntoBase } from './merge-into-base.ts';
import { writeMergedModel, type MergedDtype } from './merged-writer.ts';
import { autoModelClass, modelCard } from './model-card.ts';

export async function writeMergedExport(ctx: RunContext<ExportStageConfig>, src: ExportSource, dst: string): Promise<FormatResult> {
  const dtype: MergedDtype = ctx.config.dtype ?? 'bf16';
  const maxShardBytes = Math.max(1, Math.round((ctx.config.maxShardMB ?? 2048) * 1024 * 1024));
  const shapes = baseShapes(src.modelDir);
  const fitted = src.adapters.map((a) => ({ fitted: fitAdapter(a.dir, shapes, src.modelDir), weight: a.weight }));
  const merged = mergeIntoBase(readBaseWeights(src.modelDir).tensors, fitted);
  const w = writeMergedModel(dst, src.modelDir, merged, { dtype, maxShardBytes });
  const path = ctx.config.path;
  const auto = autoModelClass(src.modelDir);
  writeFileSync(
    join(dst, 'README.md'),
    modelCard({
      source: src,
      format: 'merged',
      ...cardBase(ctx.pipeline, src.baseName),
      details: [
        `weights: ${dtype}, ${w.shards} safetensors file${w.shards > 1 ? 's' : ''}, ${(w.totalBytes / 1e6).toFixed(1)} MB`,
        `merged: ${src.adapters.map((a) => `${a.name}×${a.weight}`).join(' + ')} folded into the base (${isConv1dModel(src.modelDir) ? "W + weight·scaling·(B·A)ᵀ: GPT-2's Conv1D weights are [in, out]" : 'W + weight·scaling·B·A'})`,
      ],
      usage: [
        {
          lang: 'python',
          code: `from transformers import ${auto}, AutoTokenizer\nmodel = ${auto}.from_pretrained("${path}")\ntok = AutoTokenizer.from_pretrained("${path}")`,
        },
        { lang: 'sh', code: `vllm serve ${path}` },
      ],
    }),
  );
  return {
    summary: `merged ${dtype}, ${w.shards} shard${w.shards > 1 ? 's' : ''}`,
    files: [...w.files, 'README.md'],
    metrics: { dtype, shards: w.shards, bytes: w.totalBytes },
  };
}
