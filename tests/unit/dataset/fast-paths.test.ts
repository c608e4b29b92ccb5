// The fast paths give the plain implementations' exact output: JSONL bytes vs string formatting, one-pass whitespace
// normalisation (JS and the peft_text addon's) vs the regex chain it replaces (random strings of tricky characters), byte-level decode vs the
// library on byte-fallback runs (BOMs, cut and invalid sequences), the id stream vs encode().
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import { normalizeWhitespace, normalizeWhitespaceJs } from '../../../stages/dataset/clean.ts';
import { jsonlBytes } from '../../../stages/dataset/jsonl-bytes.ts';
import { PackedRecord, recordLength, recordLossCount } from '../../../stages/dataset/packed-record.ts';
import { readTextDocuments } from '../../../stages/dataset/sources/text-files.ts';
import { packDocuments, packStream } from '../../../stages/dataset/tokenize.ts';
import { makeBpeWordEncoder, type WordEncoder } from '../../../src/hf/fast-bpe.ts';
import { IdBuffer } from '../../../src/hf/index.ts';
import { SpaceWordEncoder } from '../../../src/hf/space-word-encoder.ts';
import { FIXTURES, haveFixtures, STORIES_HF, storiesTokenizer } from '../../functional/dataset/helpers.ts';

/** The regex chain normalizeWhitespace is specified by. */
function whitespaceByRegex(s: string): string {
  return s
    .replace(/\r\n?/g, '\n')
    .replace(/[\u200b\u2060\ufeff]/g, '')
    .replace(/[ \t\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]{2,}|[\t\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]/g, ' ')
    .replace(/ ?\n ?/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

describe('fast paths', () => {
  it('jsonlBytes equals the JSONL string, UTF-8 encoded', () => {
    const ids = [0, 9, 10, 99, 100, 511, 65535, 1 << 20, 2 ** 31 - 1];
    const records = [
      { ids, labels: ids, text: 'plain' },
      { ids: [1, 5, 7], labels: [-100, 5, -100], text: 'Ünïcödé "quotes" \\ \n\t\u0001 東京 🙂 \ud800 lone' },
      { ids: [3], labels: [3], text: '"quoted" back\\slash\n\r\t\b\f\u0000\u001f\u007f é 東京 end\n' },
      { ids: [], labels: [], text: '' },
    ];
    const expected = records.map((r) => `{"ids":[${r.ids.join(',')}],"labels":[${r.labels.join(',')}],"text":${JSON.stringify(r.text)}}\n`).join('');
    expect(jsonlBytes(records).equals(Buffer.from(expected, 'utf8'))).toBe(true);
    expect(jsonlBytes([]).length).toBe(0);
    // Into a spare buffer (its old bytes garbage): the same bytes, in the spare when it is large enough, else not.
    const spare = new Uint8Array(1 << 17).fill(0x41).buffer;
    const into = jsonlBytes(records, spare);
    expect(into.equals(Buffer.from(expected, 'utf8'))).toBe(true);
    expect(into.buffer).toBe(spare);
    const small = new ArrayBuffer(1 << 10);
    const grown = jsonlBytes(records, small);
    expect(grown.equals(Buffer.from(expected, 'utf8'))).toBe(true);
    expect(grown.buffer).not.toBe(small);
  });

  it('a packed record writes, counts and reads like a plain one', () => {
    const stream = new Int32Array([9, 1, 300, 2, 7]);
    const packed = new PackedRecord(stream.subarray(1, 4), 'x "y"');
    const ids = [1, 300, 2];
    expect(jsonlBytes([packed]).equals(jsonlBytes([{ ids, labels: ids, text: 'x "y"' }]))).toBe(true);
    expect([recordLength(packed), recordLossCount(packed, -100)]).toEqual([3, 3]);
    expect(recordLossCount({ ids, labels: [-100, 300, 2], text: '' }, -100)).toBe(2);
    expect(packed.ids).toEqual(ids);
    expect(packed.labels).toBe(packed.ids);
    // A decoder without a byte path: the text is decoded as a string when written, and kept.
    let calls = 0;
    const lazy = new PackedRecord(stream.subarray(1, 4), { decode: (v) => (calls++, `x "${Array.from(v).join('-')}"\n`) });
    expect(jsonlBytes([lazy]).equals(jsonlBytes([{ ids, labels: ids, text: 'x "1-300-2"\n' }]))).toBe(true);
    expect([lazy.text, lazy.text, calls]).toEqual(['x "1-300-2"\n', 'x "1-300-2"\n', 1]); // decoded once, for the JSONL
  });

  it('one-pass whitespace normalisation equals the regex chain', () => {
    const alphabet = [
      'a',
      'é',
      ' ',
      ' ',
      '\n',
      '\n',
      '\r',
      '\t',
      '\f',
      '\v',
      '\u00a0',
      '\u2000',
      '\u200a',
      '\u200b',
      '\u2060',
      '\ufeff',
      '\u202f',
      '\u205f',
      '\u3000',
      '\u2028',
      '\u1680',
      '\ud83d',
      '\ude42',
    ];
    let seed = 1;
    const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let k = 0; k < 20_000; k++) {
      let t = '';
      for (let n = Math.floor(rnd() * 12); n > 0; n--) t += alphabet[Math.floor(rnd() * alphabet.length)];
      const want = whitespaceByRegex(t);
      expect(normalizeWhitespace(t), JSON.stringify(t)).toBe(want); // the peft_text addon's where it is built
      expect(normalizeWhitespaceJs(t), JSON.stringify(t)).toBe(want);
    }
  });

  it('paragraphs sliced from the text equal its lines split and joined', () => {
    const byLines = (body: string) => {
      const out: { text: string; line: number }[] = [];
      let start = -1;
      let buf: string[] = [];
      const flush = () => {
        if (buf.length) out.push({ text: buf.join('\n'), line: start + 1 });
        buf = [];
      };
      body.split('\n').forEach((l, k) => {
        if (l.trim() === '') flush();
        else {
          if (!buf.length) start = k;
          buf.push(l);
        }
      });
      flush();
      return out;
    };
    const texts = ['', '\n', 'a', 'a\n', '\n\na\nb\n \n\u00a0\u3000\nc\n\u2028\nd\u200b\n\u0085\n', ' = T = \n \n x y \n z\n'];
    for (const t of texts) expect(readTextDocuments(t, 'f', 'paragraph').map((r) => ({ text: r.fields.text, line: r.origin.line }))).toEqual(byLines(t));
  });

  it('packStream cuts a stream as packDocuments cuts the documents', () => {
    const docs = [[1, 2, 3], [4], [5, 6, 7, 8, 9], [10, 11]];
    const flat = docs.flat();
    for (const seqLen of [2, 3, 4, 10, 11, 12]) expect(packStream(flat.length, seqLen).map(([a, b]) => flat.slice(a, b))).toEqual(packDocuments(docs, seqLen));
  });

  it('IdBuffer grows and converts ranges', () => {
    const b = new IdBuffer(1);
    for (let k = 0; k < 1000; k++) b.push(k);
    b.pushArray([7, 8]);
    expect(b.length).toBe(1002);
    expect(b.toArray(998)).toEqual([998, 999, 7, 8]);
  });
});

describe.skipIf(!haveFixtures)('fast tokenizer paths against the library (needs ../shared/fixtures)', () => {
  const lib = () =>
    new Tokenizer(
      JSON.parse(readFileSync(join(STORIES_HF, 'tokenizer.json'), 'utf8')),
      JSON.parse(readFileSync(join(STORIES_HF, 'tokenizer_config.json'), 'utf8')),
    );

  it('byte-level decode equals the library on byte-fallback runs: BOMs, cut and invalid sequences', () => {
    const tok = storiesTokenizer();
    const l = lib();
    const byte = (b: number) => tok.tokenToId(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)!;
    const a = tok.encode('a', { special: false })[0];
    const cases = [
      [0xef, 0xbb, 0xbf, 0x41].map(byte), // a BOM at the start of a run
      [a, ...[0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf].map(byte), a], // two BOMs in one run, after a piece
      [byte(0xe2), a, byte(0x82), byte(0xac)], // a sequence cut by a piece
      [byte(0xe2), byte(0x82), byte(0xac), 1, byte(0xe2), 2], // specials between runs
      [byte(0xff), byte(0xc3), 0, byte(0xa9)],
      [byte(0x20), a],
    ];
    for (const ids of cases) {
      expect(tok.decode(ids, { skipSpecial: false })).toBe(l.decode(ids, { skip_special_tokens: false }));
      expect(tok.decode(ids, { skipSpecial: true })).toBe(l.decode(ids, { skip_special_tokens: true }));
    }
  });

  it('decodeUtf8 gives the UTF-8 of decode, and with json that of JSON.stringify(decode) without quotes', () => {
    const tok = storiesTokenizer();
    const byte = (b: number) => tok.tokenToId(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)!;
    const a = tok.encode('a', { special: false })[0];
    const text = readFileSync(join(FIXTURES, 'wikitext-2-raw-v1/wiki.valid.raw'), 'utf8').slice(0, 40_000) + ' "q" \\ back\tslash Ünïcödé — 東京 🙂\n';
    const ids = [1, ...tok.encode(text, { special: false }), 2, ...tok.encode('  x\ty  ', { special: false }), 2];
    const cases: number[][] = [];
    for (let i = 0; i < ids.length; i += 97) cases.push(ids.slice(i, i + 300));
    cases.push(
      [byte(0x0a), byte(0x22), byte(0x5c), a, byte(0x01)], // escapes inside byte runs
      [byte(0xef), byte(0xbb), byte(0xbf), byte(0x0a), byte(0x22)], // a BOM, then escapes
      [byte(0xe2), byte(0x0a), a, byte(0xff), byte(0x5c)], // invalid sequences next to escapes
      [byte(0x20), byte(0x22)], // a leading space from a byte run
      [byte(0xe2), byte(0x82), 0, byte(0xac), byte(0x1f)],
    );
    for (const c of cases)
      for (const skipSpecial of [false, true]) {
        const s = tok.decode(c, { skipSpecial });
        expect(Buffer.from(tok.decodeUtf8!(c, { skipSpecial })).equals(Buffer.from(s, 'utf8'))).toBe(true);
        expect(Buffer.from(tok.decodeUtf8!(c, { skipSpecial, json: true })).toString('utf8')).toBe(JSON.stringify(s).slice(1, -1));
      }
    // Packed records decoding their text as the JSONL is written give the bytes of records holding that text.
    const stream = new Int32Array(ids);
    const packed = cases.slice(0, 40).map((_, k) => new PackedRecord(stream.subarray(k * 97, k * 97 + 300), tok));
    const plain = packed.map((r) => ({ ids: [...r.idView], labels: [...r.idView], text: tok.decode(r.idView, { skipSpecial: false }) }));
    expect(jsonlBytes(packed).equals(jsonlBytes(plain))).toBe(true);
  });

  it("the word cache gives each (marks, word) its encoder's ids: past 3 ids a character, in a 100k-character document", () => {
    /** The SentencePiece split done plainly: a word with the "▁" marks before it (the first gets the prepended one). */
    const reference = (text: string, enc: WordEncoder): number[] => {
      const out: number[] = [];
      let marks = 1;
      for (let i = 0; i < text.length; ) {
        if (text[i] === ' ') {
          marks++;
          i++;
          continue;
        }
        let j = i;
        while (j < text.length && text[j] !== ' ') j++;
        out.push(...enc.encode('\u2581'.repeat(marks) + text.slice(i, j)));
        marks = 0;
        i = j;
      }
      if (marks > 0 && text.length > 0) out.push(...enc.encode('\u2581'.repeat(marks)));
      return out;
    };
    const bpe = makeBpeWordEncoder(JSON.parse(readFileSync(join(STORIES_HF, 'tokenizer.json'), 'utf8')).model)!;
    const wide: WordEncoder = { encode: (w) => Array.from({ length: 5 * w.length }, (_, k) => w.charCodeAt(k % w.length) + k) };
    const docs = readFileSync(join(FIXTURES, 'wikitext-2-raw-v1/wiki.valid.raw'), 'utf8').slice(0, 100_000).split('\n');
    for (const enc of [bpe, wide]) {
      const words = new SpaceWordEncoder(enc);
      const got = new IdBuffer(16);
      const expected: number[] = [];
      for (const d of [...docs, ...docs, docs.join(' '), '  two  spaces  ', '   ']) {
        words.encodeTo(d, got);
        for (const id of reference(d, enc)) expected.push(id);
      }
      expect(got.toArray()).toEqual(expected);
    }
  });

  it('encodeTo appends the same ids as encode, across many documents sharing the word cache', () => {
    const tok = storiesTokenizer();
    const docs = readFileSync(join(FIXTURES, 'wikitext-2-raw-v1/wiki.valid.raw'), 'utf8').slice(0, 200_000).split('\n');
    const l = lib();
    const buf = new IdBuffer();
    const expected: number[] = [];
    for (const d of docs) {
      tok.encodeTo(d, buf);
      for (const id of l.encode(d, { add_special_tokens: false }).ids) expected.push(id); // the library, not the same fast path
    }
    expect(buf.toArray()).toEqual(expected);
    // A cache cleared every few words (the memory bound) gives the same ids.
    const tiny = new SpaceWordEncoder(makeBpeWordEncoder(JSON.parse(readFileSync(join(STORIES_HF, 'tokenizer.json'), 'utf8')).model)!, 5);
    const again = new IdBuffer();
    for (const d of docs) if (!d.includes('\u2581') && !/<unk>|<\/?s>/.test(d)) tiny.encodeTo(d, again);
    const plain = new IdBuffer();
    for (const d of docs) if (!d.includes('\u2581') && !/<unk>|<\/?s>/.test(d)) tok.encodeTo(d, plain);
    expect(again.toArray()).toEqual(plain.toArray());
    expect(tok.encode(docs[1], { special: false })).toEqual(lib().encode(docs[1], { add_special_tokens: false }).ids);
  });
});
