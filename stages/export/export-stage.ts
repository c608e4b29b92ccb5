// Runs an `exports.<name>` stage: resolves what to export (an adapter or a composition, over its base), writes the
// chosen format into a temp directory beside `path` and swaps it in whole (an error leaves the earlier export in
// place, never half a new one); the core captures `path` into the store and restores it on rollback / revert.
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import { PeftError } from '../../src/errors.ts';
import { notForT5, seq2seqModel } from '../../src/hf/model-family.ts';
import type { RunContext, RunResult } from '../../src/stage.ts';
import { exportSource, type ExportSource } from './export-source.ts';
import { writePeftExport } from './peft-export.ts';
import { writeMergedExport } from './merged-export.ts';
import { writeGgufExport } from './gguf-export.ts';
import { writeOnnxExport } from './onnx-export.ts';

export interface ExportStageConfig {
  adapter?: string;
  composition?: string;
  path: string;
  format?: 'peft' | 'merged' | 'gguf' | 'onnx';
  dtype?: 'bf16' | 'fp16' | 'fp32';
  maxShardMB?: number;
  type?: string;
}

export interface FormatResult {
  summary: string;
  files: string[];
  metrics?: Record<string, unknown>;
}

export type FormatWriter = (ctx: RunContext<ExportStageConfig>, src: ExportSource, dst: string) => Promise<FormatResult>;

const WRITERS: Record<string, FormatWriter> = {
  peft: writePeftExport,
  merged: writeMergedExport,
  gguf: writeGgufExport,
  onnx: writeOnnxExport,
};

/** The formats a T5 (encoder-decoder) export is written in: the PEFT folder and the merged checkpoint (no GGUF / ONNX writer). */
const T5_FORMATS = ['peft', 'merged'];

export async function runExportStage(ctx: RunContext<ExportStageConfig>): Promise<RunResult> {
  const c = ctx.config;
  const format = c.format ?? 'peft';
  const writer = WRITERS[format];
  if (!writer)
    throw new PeftError('E_NOT_IMPLEMENTED', `${ctx.name}: format "${format}" is not implemented yet`, {
      pointer: `/exports/${ctx.name.split('.')[1]}/format`,
    });
  const src = exportSource(ctx, c);
  if (seq2seqModel(src.modelDir) && !T5_FORMATS.includes(format))
    throw new PeftError('E_NOT_IMPLEMENTED', `${ctx.name}: ${notForT5(`export format "${format}"`)} (t5 exports: ${T5_FORMATS.join(', ')})`, {
      pointer: `/exports/${ctx.name.split('.')[1]}/format`,
      hint: 'export it as "merged" (a transformers T5 checkpoint with the adapters folded in) and convert that with the runtime\'s own tools, or as "peft"',
    });
  const dst = resolve(ctx.projectDir, c.path);
  mkdirSync(dirname(dst), { recursive: true });
  const tmp = join(dirname(dst), `.${basename(dst)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(tmp);
  let result: FormatResult;
  try {
    result = await writer(ctx, src, tmp);
    if (ctx.signal.aborted) throw new PeftError('E_CANCELLED', `${ctx.name}: cancelled`);
    rmSync(dst, { recursive: true, force: true });
    renameSync(tmp, dst);
  } finally {
    if (existsSync(tmp)) rmSync(tmp, { recursive: true, force: true });
  }
  const record = {
    from: src.what,
    path: c.path,
    format,
    files: result.files.sort(),
    adapters: src.adapters.map((a) => ({ name: a.name, key: a.key, weight: a.weight })),
    ...result.metrics,
  };
  writeFileSync(join(ctx.outDir, 'export.json'), JSON.stringify(record, null, 2) + '\n');
  return { summary: `${src.what} → ${c.path}/ (${result.summary})`, metrics: { files: result.files.length, ...result.metrics } };
}
