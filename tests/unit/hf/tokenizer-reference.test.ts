// The stories260K tokenizer against ids written by Hugging Face transformers (peft-stories260K fixtures): the rows of
// the training reference's batches (TinyStories lines encoded with BOS, cut at 64 ids or ended with EOS) and the
// prompt of expected.json, through every encode path the dataset stage uses, cold and with a warm word cache.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IdBuffer } from '../../../src/hf/index.ts';
import { tokenizeDocumentTo } from '../../../stages/dataset/tokenize.ts';
import { FIXTURES, haveFixtures, storiesTokenizer } from '../../functional/dataset/helpers.ts';

const PEFT = join(FIXTURES, 'peft-stories260K');

interface Row {
  source_line: number;
  n_real_tokens: number;
  ends_with_eos: boolean;
}

interface Batches {
  bos_id: number;
  eos_id: number;
  micro_batches: { input_ids: number[][]; rows: Row[] }[];
}

/** Each reference row: its TinyStories line and the ids transformers gave it (BOS, the line's ids, EOS if it ended). */
function referenceRows(): { line: string; ids: number[]; eos: boolean }[] {
  const b = JSON.parse(readFileSync(join(PEFT, 'train-reference/batches.json'), 'utf8')) as Batches;
  const lines = readFileSync(join(FIXTURES, 'tinystories-sample/tinystories.txt'), 'utf8').split('\n');
  return b.micro_batches.flatMap((mb) =>
    mb.rows.map((r, k) => ({ line: lines[r.source_line - 1], ids: mb.input_ids[k].slice(0, r.n_real_tokens), eos: r.ends_with_eos })),
  );
}

describe.skipIf(!haveFixtures)('stories260K tokenizer = transformers (needs ../shared/fixtures)', () => {
  it('encodes the training reference rows as transformers did, cold and warm', () => {
    const rows = referenceRows();
    expect(rows).toHaveLength(12);
    expect(rows.filter((r) => r.eos)).toHaveLength(1);
    const tok = storiesTokenizer();
    for (let pass = 0; pass < 2; pass++) {
      // pass 0: each word met for the first time (BPE); pass 1: the same words from the word cache
      for (const r of rows) {
        const body = r.eos ? r.ids.slice(0, -1) : r.ids;
        expect(tok.encode(r.line, { special: true }).slice(0, body.length)).toEqual(body);
        const buf = new IdBuffer();
        tok.encodeTo(r.line, buf);
        expect([tok.bosId, ...buf.toArray()].slice(0, body.length)).toEqual(body);
        if (r.eos) {
          // the whole line: the dataset stage's document encoding gives exactly the reference row
          const doc = new IdBuffer();
          expect(tokenizeDocumentTo(r.line, tok, doc)).toBe(r.ids.length);
          expect(doc.toArray()).toEqual(r.ids);
        }
      }
    }
  });

  it("encodes expected.json's prompt as transformers did", () => {
    const e = JSON.parse(readFileSync(join(PEFT, 'expected.json'), 'utf8')) as { prompt: { text: string; ids: number[]; pieces: string[] } };
    const tok = storiesTokenizer();
    expect(tok.encode(e.prompt.text, { special: true })).toEqual(e.prompt.ids);
    expect(e.prompt.ids.map((id) => tok.idToToken(id))).toEqual(e.prompt.pieces);
  });
});
