// Which model family a Hugging Face model directory holds (config.json model_type), for the places that take another
// path for an encoder-decoder (T5): datasets (seq2seq records), adapters (seq2seq training), evals, generate / score.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Seq2SeqModel {
  modelType: 't5';
  decoderStart: number;
}

/** The T5 facts of `dir` when its config.json says model_type "t5"; undefined for every other (or unreadable) config. */
export function seq2seqModel(dir: string): Seq2SeqModel | undefined {
  const file = join(dir, 'config.json');
  if (!existsSync(file)) return undefined;
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined; // the engine's loader reports a broken config.json with its line and column
  }
  if (cfg.model_type !== 't5') return undefined;
  const start = cfg.decoder_start_token_id ?? cfg.pad_token_id ?? 0;
  return { modelType: 't5', decoderStart: typeof start === 'number' ? start : 0 };
}

/** The message of every feature that does not run T5 models yet. */
export function notForT5(what: string): string {
  return `${what} is not supported for t5 (encoder-decoder) models yet`;
}
