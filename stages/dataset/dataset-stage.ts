// Runs the dataset stage: finds the base model's tokenizer through the upstream model artifact, prepares the data
// and writes it into ctx.outDir with prompt.json (the prompt format adapters and inference reuse); returns the metrics the core records in the manifest.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PeftError } from '../../src/errors.ts';
import type { RunContext, RunResult } from '../../src/stage.ts';
import { portablePath } from '../../src/util/portable-path.ts';
import { loadModelTokenizer, PROMPT_FILE, seq2seqModel } from '../../src/hf/index.ts';
import { modelDirOf } from '../shared/model-dir.ts';
import { resolveDatasetConfig } from './config.ts';
import { buildDataset } from './build-dataset.ts';
import { promptFormatOf } from './prepare.ts';
import type { DatasetConfig } from './schema.ts';

/** The model's vocab_size as its stage recorded it (absent in artifacts that did not: then nothing is checked). */
function vocabOf(size: unknown, model: string): { size: number; model: string } | undefined {
  return typeof size === 'number' && Number.isInteger(size) && size > 0 ? { size, model } : undefined;
}

export async function runDatasetStage(ctx: RunContext<DatasetConfig>): Promise<RunResult> {
  const config = resolveDatasetConfig(ctx.config);
  const upstreamName = `models.${config.model}`;
  const model = ctx.upstream[upstreamName];
  if (!model)
    throw new PeftError('E_STORE', `${ctx.name}: the artifact of ${upstreamName} is not available`, {
      hint: `build ${upstreamName} first (peftmake build ${ctx.name} builds both)`,
    });
  const tokenizer = loadModelTokenizer(modelDirOf(model.dir));
  const s2s = seq2seqModel(modelDirOf(model.dir)); // T5: prompt -> encoder, answer -> decoder target
  const tokenizerLabel = portablePath(ctx.projectDir, tokenizer.dir); // stats.json names no absolute path of this machine
  const prepared = await buildDataset(
    ctx.outDir,
    config,
    {
      name: ctx.name,
      projectDir: ctx.projectDir,
      tokenizer,
      tokenizerLabel,
      ...(s2s ? { seq2seq: { decoderStart: s2s.decoderStart } } : {}),
      vocab: vocabOf(model.manifest?.metrics?.vocab_size, upstreamName),
      signal: ctx.signal,
      progress: (message, step, total) => ctx.progress({ message, step, total, unit: 'records' }),
    },
    tokenizer,
  );
  writeFileSync(join(ctx.outDir, PROMPT_FILE), JSON.stringify(promptFormatOf(config, tokenizer, ctx.name), null, 2) + '\n');
  const o = prepared.stats.output;
  return {
    metrics: {
      input_bytes: prepared.bytesIn,
      train_examples: o.train,
      valid_examples: o.valid,
      train_tokens: o.trainTokens,
      valid_tokens: o.validTokens,
      train_loss_tokens: o.trainLossTokens,
      bad_records: prepared.stats.badRecords.count,
      pii_found: Object.values(prepared.stats.pii.byType).reduce((a, b) => a + b, 0),
    },
    summary: `${o.train} train / ${o.valid} valid ${config.format === 'text' ? 'sequences' : 'examples'}, ${o.trainTokens} train tokens`,
  };
}
