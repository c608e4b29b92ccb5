// `format: "onnx"`: the base with the adapter (its frozen stack beneath) or the composition folded in, as an ONNX
// decoder with KV cache in the transformers.js / Optimum layout: onnx/model.onnx (fp32) or onnx/model_fp16.onnx,
// config.json, generation_config.json, the tokenizer and a model card.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PeftError } from '../../src/errors.ts';
import type { RunContext } from '../../src/stage.ts';
import { fitAdapter } from '../shared/adapter-fit.ts';
import { baseShapes, readBaseWeights } from '../shared/base-weights.ts';
import { cardBase } from './card-context.ts';
import type { ExportStageConfig, FormatResult } from './export-stage.ts';
import type { ExportSource } from './export-source.ts';
import { copyTokenizerFiles, generationConfigFor, readJsonFile, writeJson } from './hf-files.ts';
import { llamaHparams } from './llama-hparams.ts';
import { mergeIntoBase } from './merge-into-base.ts';
import { modelCard } from './model-card.ts';
import { buildLlamaDecoder, OPSET } from './onnx/onnx-llama.ts';
import { peftmakeVersion } from './peftmake-version.ts';

const MAX_PROTO_BYTES = 2 ** 31 - 1;

export async function writeOnnxExport(ctx: RunContext<ExportStageConfig>, src: ExportSource, dst: string): Promise<FormatResult> {
  const dtype = ctx.config.dtype ?? 'fp32';
  if (dtype !== 'fp32' && dtype !== 'fp16')
    throw new PeftError('E_CONFIG_SEMANTIC', `${ctx.name}: ONNX exports are fp32 or fp16, not ${dtype}`, {
      pointer: `/exports/${ctx.name.split('.')[1]}/dtype`,
      hint: 'set "dtype": "fp32" or "fp16" (onnxruntime has no bf16 CPU kernels for these ops)',
    });
  const cfgFile = join(src.modelDir, 'config.json');
  const config = readJsonFile(cfgFile);
  const h = llamaHparams(config, cfgFile, 'ONNX');
  if (h.headDim % 2 !== 0) throw new PeftError('E_MODEL', `${cfgFile}: head_dim ${h.headDim} is odd; RoPE needs pairs`, { file: cfgFile });
  const shapes = baseShapes(src.modelDir);
  const fitted = src.adapters.map((a) => ({ fitted: fitAdapter(a.dir, shapes, src.modelDir), weight: a.weight }));
  const weights = mergeIntoBase(readBaseWeights(src.modelDir).tensors, fitted);
  const elem = dtype === 'fp16' ? 'float16' : 'float32';
  const graph = buildLlamaDecoder(h, weights, elem);
  const bytes = graph.encode(
    {
      producer: 'peftmake',
      version: peftmakeVersion(),
      doc: `${src.what}: ${src.adapters.map((a) => `${a.name}×${a.weight}`).join(' + ') || 'base'} folded into ${src.baseName}`,
      props: { adapters: JSON.stringify(src.adapters.map((a) => ({ name: a.name, key: a.key, weight: a.weight }))) },
    },
    OPSET,
  );
  if (bytes.byteLength > MAX_PROTO_BYTES)
    throw new PeftError('E_MODEL', `${ctx.name}: the ONNX model would be ${(bytes.byteLength / 2 ** 30).toFixed(2)} GiB, past protobuf's 2 GiB limit`, {
      hint: 'use "dtype": "fp16" or a smaller model',
    });
  const file = dtype === 'fp16' ? 'model_fp16.onnx' : 'model.onnx';
  mkdirSync(join(dst, 'onnx'));
  writeFileSync(join(dst, 'onnx', file), bytes);
  writeJson(join(dst, 'config.json'), { ...config, use_cache: true });
  writeJson(join(dst, 'generation_config.json'), generationConfigFor(src.modelDir, config));
  const files = [`onnx/${file}`, 'config.json', 'generation_config.json', ...copyTokenizerFiles(src.modelDir, dst)];
  const p = ctx.config.path;
  writeFileSync(
    join(dst, 'README.md'),
    modelCard({
      source: src,
      format: 'onnx',
      ...cardBase(ctx.pipeline, src.baseName),
      details: [
        `onnx/${file}: decoder with KV cache (inputs input_ids, attention_mask, position_ids, past_key_values.N.key/value; outputs logits, present.N.key/value), ${dtype}, opset ${OPSET}, ${(bytes.byteLength / 1e6).toFixed(1)} MB`,
      ],
      usage: [
        { lang: 'sh', code: `peftmake generate --runtime onnx --model ${p} --prompt "Once upon a time"` },
        {
          lang: 'js',
          code: `import { pipeline } from '@huggingface/transformers';\nconst generate = await pipeline('text-generation', './${p}', { dtype: '${dtype}' });`,
        },
      ],
    }),
  );
  files.push('README.md');
  return { summary: `ONNX ${dtype}, ${(bytes.byteLength / 1e6).toFixed(1)} MB`, files, metrics: { dtype, bytes: bytes.byteLength } };
}
