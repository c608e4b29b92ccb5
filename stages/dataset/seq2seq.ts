// Seq2seq records for encoder-decoder models (T5): the prompt segments go to the encoder (+ </s>, no BOS), the last
// segment with loss is the decoder's target (+ </s>); the record's ids are decoder_start + target, its labels -100 +
// target, so "ids[t] predicts labels[t + 1]" holds as for causal records and decoder_input_ids = ids[:-1].
import { PeftError } from '../../src/errors.ts';
import type { ModelTokenizer } from '../../src/hf/index.ts';
import type { Segment } from './render.ts';
import { IGNORE, type Tokenized } from './tokenize.ts';

export interface Seq2SeqTokens extends Tokenized {
  enc: number[];
}

export function seq2seqTokens(segs: Segment[], tok: ModelTokenizer, decoderStart: number): Seq2SeqTokens {
  if (tok.eosId === undefined)
    throw new PeftError('E_DATA', `${tok.dir}: the tokenizer has no eos token; a seq2seq (t5) dataset ends encoder and target with it`);
  let last = segs.length - 1;
  while (last >= 0 && !segs[last].loss) last--;
  const source = segs
    .slice(0, Math.max(0, last))
    .map((s) => s.text)
    .join('');
  const target = last >= 0 ? segs[last].text : '';
  const enc = [...tok.encode(source, { special: false }), tok.eosId];
  const t = [...tok.encode(target, { special: false }), tok.eosId];
  return { enc, ids: [decoderStart, ...t], labels: [IGNORE, ...t] };
}
