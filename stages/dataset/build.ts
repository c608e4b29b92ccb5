// Runs the dataset pipeline for one stage: read sources, clean, redact, render, tokenize, limit, split, write.
import { PeftError } from '../../src/errors.ts';
import type { RunContext, RunResult } from '../../src/stage.ts';
import type { DatasetConfig } from './schema.ts';

export async function buildDataset(ctx: RunContext<DatasetConfig>): Promise<RunResult> {
  throw new PeftError('E_NOT_IMPLEMENTED', `${ctx.name}: the dataset stage is being written`);
}
