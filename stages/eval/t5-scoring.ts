// The eval metrics for a T5 (encoder-decoder) subject over seq2seq records (enc, ids = decoder_start + target,
// labels = -100 + target): perplexity of the targets given the sources, and QA answers generated from the source alone.
import type { T5AdapterUse, T5Model } from '../../src/engine/t5.ts';
import type { TokenRecord } from '../shared/token-records.ts';
import { bestOver, exactMatch, tokenF1 } from './squad-metrics.ts';

function parts(r: TokenRecord) {
  return { enc: (r.enc as number[] | undefined) ?? [], dec: r.ids.slice(0, -1), labels: r.labels.slice(1) };
}

export async function t5Perplexity(model: T5Model, records: TokenRecord[], uses: T5AdapterUse[]): Promise<number> {
  let nll = 0;
  let n = 0;
  for (const r of records) {
    const { enc, dec, labels } = parts(r);
    if (!enc.length || !dec.length) continue;
    const { logprobs } = await model.score(enc, dec, uses, { labels });
    for (let t = 0; t < labels.length; t++)
      if (labels[t] !== -100) {
        nll -= logprobs[t];
        n++;
      }
  }
  return n ? Math.exp(nll / n) : Number.NaN;
}

export async function t5QaScores(
  model: T5Model,
  records: TokenRecord[],
  uses: T5AdapterUse[],
  maxNewTokens: number,
  clean: (text: string) => string,
  gold: (r: TokenRecord, decode: (ids: number[]) => string, eos: number[]) => string[],
): Promise<{ em: number; f1: number; samples: { prediction: string; gold: string[] }[] }> {
  const eos = model.info.eosTokenIds;
  let em = 0;
  let f1 = 0;
  const samples: { prediction: string; gold: string[] }[] = [];
  for (const r of records) {
    const out = await model.generate(parts(r).enc, { maxTokens: maxNewTokens, temperature: 0 }, uses);
    const cut = out.findIndex((t) => eos.includes(t));
    const prediction = clean(model.tokenizer.decode(cut < 0 ? out : out.slice(0, cut), { skipSpecial: true }));
    const g = gold(r, (ids) => model.tokenizer.decode(ids, { skipSpecial: true }), eos);
    em += bestOver(prediction, g, exactMatch);
    f1 += bestOver(prediction, g, tokenF1);
    if (samples.length < 5) samples.push({ prediction, gold: g });
  }
  return { em: records.length ? em / records.length : Number.NaN, f1: records.length ? f1 / records.length : Number.NaN, samples };
}
