// generate / score for a T5 (encoder-decoder) target: the prompt (or --source) is the encoder's input (+ </s>, no
// BOS), generation starts from decoder_start; scoring gives the log-probabilities of the text as the decoder's target.
import { PeftError } from '../errors.ts';
import { type T5AdapterUse, type T5Model, loadT5Model } from '../engine/t5.ts';
import type { Quant } from '../engine/model.ts';

export async function loadT5WithAdapters(
  dir: string,
  quant: Quant,
  specs: readonly { dir: string; weight: number }[],
): Promise<{ model: T5Model; adapters: T5AdapterUse[] }> {
  const model = await loadT5Model({ dir, quant });
  const adapters: T5AdapterUse[] = [];
  for (const s of specs) adapters.push({ adapter: await model.loadAdapter(s.dir), weight: s.weight });
  return { model, adapters };
}

/** Encoder ids of a text: its tokens and </s> (T5's convention: no BOS). */
export function t5EncoderIds(model: T5Model, text: string): number[] {
  const eos = model.info.eosTokenIds[0];
  if (eos === undefined) throw new PeftError('E_MODEL', `${model.dir}: the t5 model has no eos_token_id`);
  return [...model.tokenizer.encode(text, { special: false }), eos];
}

export function checkT5Ids(model: T5Model, ids: number[], flag: string): void {
  const bad = ids.find((t) => !Number.isInteger(t) || t < 0 || t >= model.info.vocabSize);
  if (bad !== undefined) throw new PeftError('E_USAGE', `${flag}: token id ${bad} is outside the vocabulary [0, ${model.info.vocabSize})`);
}

/** Scores `target` (+ </s>) as the decoder's output given `source` in the encoder: per-token log-probs, mean NLL. */
export async function scoreT5(model: T5Model, adapters: T5AdapterUse[], source: string, targetIds: number[]) {
  const enc = t5EncoderIds(model, source);
  const labels = targetIds;
  const dec = [model.info.decoderStartTokenId, ...labels.slice(0, -1)];
  const { logprobs } = await model.score(enc, dec, adapters, { labels });
  const meanNll = -logprobs.reduce((s, x) => s + x, 0) / logprobs.length;
  return { ids: labels, logprobs, mean_nll: meanNll, perplexity: Math.exp(meanNll), window: labels.length, stride: labels.length };
}
