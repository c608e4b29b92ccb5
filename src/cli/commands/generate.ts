// `peftmake generate`: text generation from a base model with any stack of adapters (DIR[:SCALE]), greedy or sampled,
// from a text prompt or token ids; `--json` prints {"text", "tokens", "prompt_tokens"}.
import type { CommandModule } from 'yargs';
import { PeftError } from '../../errors.ts';
import {
  adapterOption,
  applyComposition,
  chatPromptText,
  compositionOptions,
  modelOption,
  quantOption,
  rawOption,
  type CompositionArgs,
} from './composition-target.ts';
import { loadWithAdapters } from '../../engine/load-with-adapters.ts';
import { seq2seqModel } from '../../hf/model-family.ts';
import { plainPromptText } from '../../hf/prompt-format.ts';
import { checkT5Ids, loadT5WithAdapters, t5EncoderIds } from '../t5-inference.ts';
import { checkCompute, checkIds, checkQuant, parseAdapterSpec, parseIds } from '../engine-args.ts';

export interface GenerateArgs extends CompositionArgs {
  model?: string;
  raw?: boolean;
  adapter?: string[];
  prompt?: string;
  promptIds?: string;
  maxTokens?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  quant?: string;
  compute?: string;
  stop?: string[];
  json?: boolean;
  runtime?: string;
}

export interface GenerateOutput {
  text: string;
  tokens: number[];
  prompt_tokens: number[];
  /** Seconds the generation took (model loading excluded). */
  seconds?: number;
}

function num(v: number | undefined, flag: string, lo: number, hi: number, int = false): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isFinite(v) || v < lo || v > hi || (int && !Number.isInteger(v)))
    throw new PeftError('E_USAGE', `${flag} must be ${int ? 'an integer' : 'a number'} in [${lo}, ${hi}], got ${v}`);
  return v;
}

export async function runGenerate(a: GenerateArgs): Promise<GenerateOutput> {
  if ((a.prompt === undefined) === (a.promptIds === undefined)) throw new PeftError('E_USAGE', 'give exactly one of --prompt TEXT or --prompt-ids 1,2,3');
  const maxTokens = num(a.maxTokens, '--max-tokens', 0, 1 << 20, true) ?? 64;
  const temperature = num(a.temperature, '--temperature', 0, 100) ?? 0;
  const topK = num(a.topK, '--top-k', 0, 1 << 30, true);
  const topP = num(a.topP, '--top-p', 1e-9, 1);
  const seed = num(a.seed, '--seed', 0, Number.MAX_SAFE_INTEGER, true);
  if (a.runtime === 'onnx') {
    if (!a.model || a.composition !== undefined || a.adapter?.length)
      throw new PeftError(
        'E_USAGE',
        '--runtime onnx runs an ONNX export: give --model <export path> (adapters are folded into it), not --composition / --adapter',
      );
    const { onnxGenerate } = await import('../../onnx/onnx-generate.ts');
    return onnxGenerate({
      dir: a.model,
      prompt: a.prompt,
      promptIds: a.promptIds !== undefined ? parseIds(a.promptIds, '--prompt-ids') : undefined,
      maxTokens,
      temperature,
    });
  }
  const target = applyComposition(a);
  if (seq2seqModel(target.model)) {
    // T5: the prompt is the encoder's input; generation starts from decoder_start (no chat template, no stop strings yet)
    const { model, adapters } = await loadT5WithAdapters(target.model, checkQuant(a.quant), (target.adapter ?? []).map(parseAdapterSpec));
    // with --composition, the prompt goes in the prompt template its adapters were trained with (as serve's chat)
    const text = a.composition !== undefined && !a.raw && a.prompt !== undefined ? plainPromptText(a.prompt, target.prompt) : a.prompt;
    const enc = a.promptIds !== undefined ? parseIds(a.promptIds, '--prompt-ids') : t5EncoderIds(model, text!);
    checkT5Ids(model, enc, '--prompt-ids');
    const t0 = performance.now();
    const tokens = await model.generate(enc, { maxTokens, temperature, topK, topP, seed }, adapters);
    const seconds = (performance.now() - t0) / 1000;
    return { text: model.tokenizer.decode(tokens, { skipSpecial: true }), tokens, prompt_tokens: enc, seconds };
  }
  const quant = checkQuant(a.quant);
  const { model, adapters } = await loadWithAdapters(target.model, quant, (target.adapter ?? []).map(parseAdapterSpec), checkCompute(a.compute, quant));
  const chat =
    a.composition !== undefined && !a.raw && a.prompt !== undefined
      ? chatPromptText(model.tokenizer, a.prompt, target.prompt, (line) => process.stderr.write(`${line}\n`))
      : undefined;
  // The one BOS rule (src/hf/tokenizer.ts): a plain prompt gets the tokenizer's specials, a chat-template text none.
  const prompt =
    a.promptIds !== undefined
      ? parseIds(a.promptIds, '--prompt-ids')
      : chat !== undefined
        ? model.tokenizer.encode(chat, { special: false })
        : model.tokenizer.encode(a.composition !== undefined && !a.raw ? plainPromptText(a.prompt!, target.prompt) : a.prompt!, { special: true });
  checkIds(model, prompt, a.promptIds !== undefined ? '--prompt-ids' : undefined);
  const t0 = performance.now();
  let tokens = await model.generate(prompt, { maxTokens, temperature, topK, topP, seed }, adapters);
  const seconds = (performance.now() - t0) / 1000;
  let text: string;
  try {
    text = model.tokenizer.decode(tokens, { skipSpecial: true });
  } catch (err) {
    if (a.promptIds !== undefined && (err as { code?: string }).code === 'E_MODEL') text = '';
    else throw err;
  }
  // stop strings: cut the text at the first one and keep the tokens that produced the text before it
  for (const s of a.stop ?? []) {
    const i = text.indexOf(s);
    if (i < 0) continue;
    text = text.slice(0, i);
    let n = 0;
    while (n < tokens.length && model.tokenizer.decode(tokens.slice(0, n + 1), { skipSpecial: true }).length <= i) n++;
    tokens = tokens.slice(0, n);
  }
  return { text, tokens, prompt_tokens: prompt, seconds };
}

export const generateCommand: CommandModule<object, GenerateArgs> = {
  command: 'generate',
  describe: 'generate text with a base model and a stack of adapters',
  builder: (y) =>
    y
      .option('model', modelOption)
      .options(compositionOptions)
      .option('raw', rawOption)
      .option('adapter', adapterOption)
      .option('prompt', {
        type: 'string',
        describe: 'prompt text (tokenized with the model tokenizer and its specials, e.g. BOS; with --composition, rendered with the chat template)',
      })
      .option('prompt-ids', { type: 'string', describe: 'prompt as comma-separated token ids' })
      .option('max-tokens', { type: 'number', describe: 'new tokens at most (default 64)' })
      .option('temperature', { type: 'number', describe: '0 = greedy (default)' })
      .option('top-k', { type: 'number', describe: 'sample among the k most likely tokens' })
      .option('top-p', { type: 'number', describe: 'nucleus sampling mass' })
      .option('seed', { type: 'number', describe: 'sampling seed (default 0)' })
      .option('stop', { type: 'string', array: true, describe: 'stop string (repeatable); the text is cut before it' })
      .option('quant', quantOption)
      .option('compute', {
        type: 'string',
        choices: ['fp32', 'bf16', 'int8', 'auto'],
        describe: 'compute mode (default fp32; int8: NF4 decoding in int8, needs --quant nf4; auto: bf16 where native)',
      })
      .option('runtime', {
        type: 'string',
        choices: ['engine', 'onnx'],
        describe: 'engine (default), or onnx: run an ONNX export (--model <export path>) in onnxruntime-node, greedy',
      })
      .option('json', { type: 'boolean', describe: 'print {"text", "tokens", "prompt_tokens"}' }) as never,
  handler: async (argv) => {
    const out = await runGenerate(argv);
    const { seconds, ...shown } = out;
    process.stdout.write(argv.json ? JSON.stringify(shown) + '\n' : out.text + '\n');
    if (seconds !== undefined)
      process.stderr.write(
        `generated ${out.tokens.length} tokens in ${(seconds * 1000).toFixed(1)} ms (${seconds > 0 ? (out.tokens.length / seconds).toFixed(1) : '-'} tokens/s, prompt ${out.prompt_tokens.length} tokens)\n`,
      );
  },
};

export default generateCommand;
