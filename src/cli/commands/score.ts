// `peftmake score`: per-token log-probabilities of a text, file or id list under a base model and adapter stack;
// prints token count, mean NLL and perplexity (`--json`: {"ids", "logprobs", "mean_nll", "perplexity"}). Sequences
// longer than the model's context are scored in windows (stride --stride, default half the context).
import { readFileSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import { PeftError } from '../../errors.ts';
import { adapterOption, applyComposition, compositionOptions, modelOption, quantOption, type CompositionArgs } from './composition-target.ts';
import { loadWithAdapters } from '../../engine/load-with-adapters.ts';
import { seq2seqModel } from '../../hf/model-family.ts';
import { loadT5WithAdapters, checkT5Ids, scoreT5, t5EncoderIds } from '../t5-inference.ts';
import { scoreWindows } from '../../engine/score-windows.ts';
import { checkIds, checkQuant, parseAdapterSpec, parseIds } from '../engine-args.ts';

export interface ScoreArgs extends CompositionArgs {
  model?: string;
  adapter?: string[];
  text?: string;
  file?: string;
  ids?: string;
  quant?: string;
  window?: number;
  stride?: number;
  json?: boolean;
  /** t5 only: the encoder's input text (the scored text is the decoder's target). */
  source?: string;
}

export interface ScoreOutput {
  ids: number[];
  logprobs: number[];
  mean_nll: number;
  perplexity: number;
  window: number;
  stride: number;
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new PeftError('E_NOT_FOUND', `--file ${file}: cannot read (${(err as Error).message})`, { file });
  }
}

export async function runScore(a: ScoreArgs, onWindow?: (done: number, total: number) => void): Promise<ScoreOutput> {
  const given = [a.text, a.file, a.ids].filter((x) => x !== undefined).length;
  if (given !== 1) throw new PeftError('E_USAGE', 'give exactly one of --text T, --file F or --ids 1,2,3');
  const target = applyComposition(a);
  if (seq2seqModel(target.model)) {
    // T5: the text is scored as the decoder's target (+ </s>) given --source in the encoder
    const { model, adapters } = await loadT5WithAdapters(target.model, checkQuant(a.quant), (target.adapter ?? []).map(parseAdapterSpec));
    let ids: number[];
    if (a.ids !== undefined) ids = parseIds(a.ids, '--ids');
    else ids = t5EncoderIds(model, a.file !== undefined ? readText(a.file) : a.text!);
    checkT5Ids(model, ids, '--ids');
    return scoreT5(model, adapters, a.source ?? '', ids);
  }
  if (a.source !== undefined) throw new PeftError('E_USAGE', '--source is for encoder-decoder (t5) models only');
  const { model, adapters } = await loadWithAdapters(target.model, checkQuant(a.quant), (target.adapter ?? []).map(parseAdapterSpec));
  let ids: number[];
  if (a.ids !== undefined) ids = parseIds(a.ids, '--ids');
  else {
    const text = a.file !== undefined ? readText(a.file) : a.text;
    ids = model.tokenizer.encode(text!, { special: true });
  }
  checkIds(model, ids, a.ids !== undefined ? '--ids' : undefined);
  if (ids.length < 2) throw new PeftError('E_USAGE', 'scoring needs at least two tokens (the first one is context only)');
  const window = a.window ?? model.info.maxPositionEmbeddings;
  const stride = a.stride ?? Math.max(1, Math.floor(window / 2));
  if (!Number.isInteger(window) || window < 2) throw new PeftError('E_USAGE', `--window must be an integer >= 2, got ${window}`);
  if (!Number.isInteger(stride) || stride < 1 || stride > window - 1)
    throw new PeftError('E_USAGE', `--stride must be an integer in [1, window-1 = ${window - 1}], got ${stride}`);
  const logprobs = await scoreWindows(model, ids, adapters, window, stride, onWindow);
  const meanNll = -logprobs.reduce((s, x) => s + x, 0) / logprobs.length;
  return { ids, logprobs, mean_nll: meanNll, perplexity: Math.exp(meanNll), window, stride };
}

export const scoreCommand: CommandModule<object, ScoreArgs> = {
  command: 'score',
  describe: 'per-token log-probabilities, mean NLL and perplexity of a text under a model and adapters',
  builder: (y) =>
    y
      .option('model', modelOption)
      .options(compositionOptions)
      .option('adapter', adapterOption)
      .option('text', { type: 'string', describe: 'text to score' })
      .option('file', { type: 'string', describe: 'file whose text to score' })
      .option('ids', { type: 'string', describe: 'comma-separated token ids to score' })
      .option('source', { type: 'string', describe: 't5 (encoder-decoder) models: the encoder input; the text is scored as its target' })
      .option('window', { type: 'number', describe: 'tokens per window for long inputs (default: the model context)' })
      .option('stride', { type: 'number', describe: 'window advance (default: half the window)' })
      .option('quant', quantOption)
      .option('json', { type: 'boolean', describe: 'print {"ids", "logprobs", "mean_nll", "perplexity"}' }) as never,
  handler: async (argv) => {
    const tty = process.stderr.isTTY;
    const out = await runScore(argv, (done, total) => {
      if (total > 1 && (tty || done === total || done % Math.ceil(total / 10) === 0))
        process.stderr.write(`${tty ? '\r' : ''}scoring window ${done}/${total}${tty ? '' : '\n'}`);
    });
    if (process.stderr.isTTY) process.stderr.write('\n');
    if (argv.json) process.stdout.write(JSON.stringify({ ids: out.ids, logprobs: out.logprobs, mean_nll: out.mean_nll, perplexity: out.perplexity }) + '\n');
    else
      process.stdout.write(
        `tokens: ${out.logprobs.length}${out.ids.length > out.window ? ` (windows of ${out.window}, stride ${out.stride})` : ''}\nmean NLL: ${out.mean_nll.toFixed(6)}\nperplexity: ${out.perplexity.toFixed(4)}\n`,
      );
  },
};

export default scoreCommand;
