// The peft_text addon (native/src/text_addon) gives the JS code's exact output on real text: the word-cache encoder
// vs SpaceWordEncoder (wikitext lines, non-ASCII, lone surrogates, spaces at the ends, a cache cleared as it goes),
// whitespace normalisation vs clean.ts's JS loop,
// the digests and ranks vs node:crypto, the JSONL of packed sequences vs jsonlBytes over PackedRecords (byte runs
// with BOMs, invalid sequences and escapes, ids without a piece), and a chunk of the streamed path with and without it.
import { hash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { IdBuffer } from '../../../src/hf/index.ts';
import { textAddon, TEXT_ADDON_PATH } from '../../../src/util/text-addon.ts';
import { cleanText, cleanTexts, normalizeWhitespaceJs } from '../../../stages/dataset/clean.ts';
import { resolveDatasetConfig } from '../../../stages/dataset/config.ts';
import { jsonlBytes } from '../../../stages/dataset/jsonl-bytes.ts';
import { PackedRecord } from '../../../stages/dataset/packed-record.ts';
import { rankPrefix, seededRank } from '../../../stages/dataset/sample.ts';
import { processChunk, type ChunkJob } from '../../../stages/dataset/stream-docs.ts';
import { formatSequences } from '../../../stages/dataset/stream-format.ts';
import { FIXTURES, haveFixtures, STORIES_HF, storiesTokenizer } from '../../functional/dataset/helpers.ts';

const WIKI = join(FIXTURES, 'wikitext-2-raw-v1');
const noAddon = textAddon() ? undefined : `the peft_text addon is not built (${TEXT_ADDON_PATH}; npm run build:native)`;
const skip = !!noAddon || !haveFixtures;

/** wikitext-2's valid + test lines as they are (leading / trailing / repeated spaces, non-ASCII), and some made ones. */
function wikiLines(): string[] {
  const raw = readFileSync(join(WIKI, 'wiki.valid.raw'), 'utf8') + readFileSync(join(WIKI, 'wiki.test.raw'), 'utf8');
  return raw.split('\n');
}

const EDGES = [
  '',
  ' ',
  '   ',
  'a',
  ' a',
  'a ',
  'a  b   c',
  '  lead and trail  ',
  'Ünïcödé 東京 🙂 emoji',
  'lone \ud800 high, lone \udc00 low, pair \ud83d\ude42',
  '\u0001\u001f control "quotes" \\ back',
  'x'.repeat(20_000), // one long word: byte fallback and merges over a long run
  '🙂'.repeat(3000), // 3+ ids a character
  `${'word '.repeat(5000)}end`,
  'tab\there\nnewline\r\nCRLF',
];

/** The JS reference: SpaceWordEncoder (encodeTo) text by text. */
function jsIds(tok: ReturnType<typeof storiesTokenizer>, texts: readonly string[]): { ids: number[]; ends: number[] } {
  const out = new IdBuffer();
  const ends: number[] = [];
  for (const t of texts) {
    tok.encodeTo(t, out);
    ends.push(out.length);
  }
  return { ids: out.toArray(), ends };
}

function nativeIds(tok: ReturnType<typeof storiesTokenizer>, texts: readonly string[]): { ids: number[]; ends: number[] } {
  const out = new IdBuffer();
  out.pushArray([7, 8, 9]); // appended after what is there
  const ends = new Int32Array(texts.length);
  tok.encodeEachTo!(texts, out, ends);
  return { ids: out.toArray(3), ends: Array.from(ends, (e) => e - 3) };
}

afterEach(() => {
  delete process.env.PEFTMAKE_NO_TEXT_ADDON;
});

describe.skipIf(skip)('peft_text addon', () => {
  it('encodeEachTo equals encodeTo text by text on wikitext (raw and cleaned lines) and edge cases', () => {
    const tok = storiesTokenizer();
    const lines = wikiLines();
    const texts = [...lines, ...lines.map((l) => l.trim()), ...EDGES, '▁ a text holding the mark (the JS path)', '<s> an added token (the library)'];
    // Fresh caches on both sides are not needed for equality; the word cache is warm after the first batch.
    for (const batch of [texts.slice(0, 5000), texts, EDGES]) {
      const want = jsIds(tok, batch);
      const got = nativeIds(tok, batch);
      expect(Int32Array.from(got.ends)).toEqual(Int32Array.from(want.ends));
      expect(Buffer.from(Int32Array.from(got.ids).buffer).equals(Buffer.from(Int32Array.from(want.ids).buffer))).toBe(true);
    }
    expect(jsIds(tok, texts).ids.length).toBeGreaterThan(1_000_000); // real work, not vacuous
  });

  it('the native word cache cleared past maxEntries gives the same ids; a failing word encoder throws', () => {
    const tok = storiesTokenizer();
    const words = (tok as unknown as { fast: { words: { encode(w: string): number[] } } }).fast.words;
    const addon = textAddon()!;
    const lines = wikiLines().slice(0, 3000);
    let misses = 0;
    const h = addon.spaceWords((w) => {
      misses++;
      return words.encode(w);
    }, 64);
    const text = lines.join('');
    const ends = new Int32Array(lines.length);
    for (let k = 0, c = 0; k < lines.length; k++) ends[k] = c += lines[k].length;
    const idEnds = new Int32Array(lines.length);
    const n = addon.spaceWordsEncode(h, text, ends, idEnds);
    const ids = new Int32Array(n);
    addon.spaceWordsTake(h, ids, 0);
    const want = jsIds(tok, lines);
    expect(idEnds).toEqual(Int32Array.from(want.ends));
    expect(ids).toEqual(Int32Array.from(want.ids));
    expect(misses).toBeGreaterThan(5000); // the small cache was cleared many times
    const bad = addon.spaceWords(() => {
      throw new Error('word encoder failed');
    }, 64);
    expect(() => addon.spaceWordsEncode(bad, 'a b', new Int32Array([3]), new Int32Array(1))).toThrow('word encoder failed');
    expect(() => addon.spaceWordsEncode(h, 'a b', new Int32Array([4]), new Int32Array(1))).toThrow(/within the text/);
    expect(() => addon.spaceWordsTake(h, new Int32Array(0), 0)).toThrow(/no room/);
  });

  it('normalizeWhitespace equals the JS function on wikitext (raw lines and paragraphs) and edge cases', () => {
    const addon = textAddon()!;
    const lines = wikiLines();
    const paragraphs: string[] = [];
    for (let k = 0; k < lines.length; k += 7) paragraphs.push(lines.slice(k, k + 7).join(k % 2 ? '\r\n' : '\n'));
    const texts = [...lines, ...paragraphs, ...EDGES, '\u3000\u00a0 x \u2028', '\ufeff\u200bx\u2060', ' \n \n\n\n y \t\v\f', '\u1680z\u2029'];
    for (const t of texts) expect(addon.normalizeWhitespace(t), JSON.stringify(t.slice(0, 80))).toBe(normalizeWhitespaceJs(t));
    // Random mostly-ASCII strings: runs across the 8-unit blocks, spaces at block ends, doubled, before newlines.
    const alphabet = ['a', 'b', 'Z', '.', ' ', ' ', ' ', '\n', '\t', '\r', '\u00a0', 'é', '\u0085', '\u2028', '東', '\ud83d'];
    let seed = 7;
    const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let k = 0; k < 20_000; k++) {
      let t = '';
      for (let n = Math.floor(rnd() * 40); n > 0; n--) t += alphabet[Math.floor(rnd() * (rnd() < 0.8 ? 5 : alphabet.length))];
      expect(addon.normalizeWhitespace(t), JSON.stringify(t)).toBe(normalizeWhitespaceJs(t));
    }
    const ends = new Int32Array(texts.length);
    for (let k = 0, c = 0; k < texts.length; k++) ends[k] = c += texts[k].length;
    expect(addon.normalizeWhitespaceEach(texts.join(''), ends)).toEqual(texts.map(normalizeWhitespaceJs));
    // cleanTexts (a chunk's texts at once) equals cleanText text by text, with NFC and markup stripping before it.
    const marked = [...paragraphs.slice(0, 300), 'e\u200b\u0301 café', '<p>a &amp;  b</p>\n\n\n<br>c', '# Title\n\n**bold**  text', ''];
    for (const strip of ['none', 'markdown', 'html'] as const)
      for (const nfc of [true, false]) {
        const o = { nfc, whitespace: true, strip };
        expect(cleanTexts(marked, o)).toEqual(marked.map((t) => cleanText(t, o)));
      }
  });

  it('docDigests equals SHA-1 and seededRank (node:crypto) on wikitext lines, non-ASCII and lone surrogates', () => {
    const addon = textAddon()!;
    const texts = [...wikiLines().slice(0, 4000), ...EDGES, '\ud800', 'end \udbff', '\udfff\ud800 swapped pair'];
    const ends = new Int32Array(texts.length);
    for (let k = 0, c = 0; k < texts.length; k++) ends[k] = c += texts[k].length;
    const prefixes = [rankPrefix(0, 'valid'), rankPrefix(1234567, 'sample')];
    const r = addon.docDigests(texts.join(''), ends, prefixes);
    expect(r.digest.length).toBe(4 * texts.length);
    texts.forEach((t, k) => {
      const sha = hash('sha1', t, 'buffer');
      for (let w = 0; w < 4; w++) expect(r.digest[4 * k + w]).toBe(sha.readInt32LE(4 * w));
      const key = sha.toString('base64');
      expect(r.ranks[2 * k]).toBe(seededRank(0, 'valid', key));
      expect(r.ranks[2 * k + 1]).toBe(seededRank(1234567, 'sample', key));
    });
    expect(addon.docDigests('', new Int32Array(0), []).digest.length).toBe(0);
  });

  it('formatSequences equals jsonlBytes over PackedRecords: wikitext ids, byte runs, ids without a piece', () => {
    const tok = storiesTokenizer();
    const byte = (b: number) => tok.tokenToId(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)!;
    const a = tok.tokenToId('a') ?? 100;
    const lines = wikiLines().slice(0, 3000);
    const out = new IdBuffer();
    for (const l of [...lines, ...EDGES]) {
      out.pushArray(tok.prefixIds);
      tok.encodeTo(l, out);
      out.push(tok.eosId!);
    }
    const crafted = [
      ...[0xef, 0xbb, 0xbf, 0x41].map(byte), // a BOM at the start of a run
      a,
      ...[0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf].map(byte), // two BOMs in one run
      byte(0xe2),
      a,
      byte(0x82),
      byte(0xac), // a sequence cut by a piece
      byte(0xff),
      byte(0xc3),
      0,
      byte(0xa9), // invalid bytes, a special between
      byte(0x0a),
      byte(0x22),
      byte(0x5c),
      byte(0x01),
      byte(0x7f), // escapes inside a run
      ...[0xf0, 0x9f, 0x99, 0x82, 0xf4, 0x90, 0x80, 0x80, 0xed, 0xa0, 0x80, 0xe0, 0x80, 0xf0, 0x8f].map(byte), // emoji, then out-of-range and overlong sequences
      -5,
      999_999,
      12_345_678,
      2 ** 31 - 1, // ids without a piece (and wider than the digits table)
      byte(0x20),
      byte(0x22), // a space from a byte run
    ];
    const ids = Int32Array.from([...out.toArray(), ...crafted, ...crafted.slice(0, 9)]);
    const reference = (seqLen: number) => {
      const records: PackedRecord[] = [];
      for (let at = 0; at < ids.length; at += seqLen) records.push(new PackedRecord(ids.subarray(at, Math.min(ids.length, at + seqLen)), tok));
      return Buffer.from(jsonlBytes(records));
    };
    for (const seqLen of [1, 2, 3, 7, 64, 512, ids.length]) {
      const got = Buffer.from(formatSequences(ids, seqLen, tok));
      expect(got.equals(reference(seqLen)), `seqLen ${seqLen}`).toBe(true);
    }
    for (let start = 0; start < 40; start++) {
      const tail = ids.subarray(ids.length - crafted.length - 9 + start);
      const records = [new PackedRecord(tail, tok)];
      expect(Buffer.from(formatSequences(tail, 1 << 20, tok)).equals(Buffer.from(jsonlBytes(records))), `from ${start}`).toBe(true);
    }
    // Into a spare buffer when it has room; empty input writes nothing.
    const spare = new ArrayBuffer(64 << 20);
    const inSpare = formatSequences(ids, 512, tok, spare);
    expect(inSpare.buffer).toBe(spare);
    expect(Buffer.from(inSpare).equals(reference(512))).toBe(true);
    expect(formatSequences(new Int32Array(0), 512, tok).length).toBe(0);
  });

  it('loads in worker threads beside the main thread (each its own handles), as the dataset workers load it', async () => {
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const a = require(workerData.path);
      const h = a.spaceWords((w) => Array.from(w, (c) => c.charCodeAt(0) % 7), 1 << 10);
      const idEnds = new Int32Array(2);
      const n = a.spaceWordsEncode(h, 'ab cd  e', new Int32Array([5, 8]), idEnds);
      const ids = new Int32Array(n);
      a.spaceWordsTake(h, ids, 0);
      parentPort.postMessage({ ws: a.normalizeWhitespace(' x\t\ty '), ids: Array.from(ids), ends: Array.from(idEnds) });`;
    const { Worker } = await import('node:worker_threads');
    const run = () =>
      new Promise<unknown>((resolve, reject) => {
        const w = new Worker(code, { eval: true, workerData: { path: TEXT_ADDON_PATH } });
        w.once('message', (m) => {
          resolve(m);
          void w.terminate();
        });
        w.once('error', reject);
      });
    const [a, b] = await Promise.all([run(), run()]);
    // "▁ab" "▁cd" | "▁▁▁e" (the prepended mark and two spaces), each unit's code % 7 ("▁": 4)
    const want = { ws: 'x y', ids: [4, 6, 0, 4, 1, 2, 4, 4, 4, 3], ends: [6, 10] };
    expect(a).toEqual(want);
    expect(b).toEqual(want);
    expect(textAddon()!.normalizeWhitespace(' x\t\ty ')).toBe('x y');
  });

  it('a chunk of the streamed path gives the same result with and without the addon (wikitext, PII, dedup keys, ranks)', () => {
    const tok = storiesTokenizer();
    const raw = readFileSync(join(WIKI, 'wiki.valid.raw'));
    const pii = Buffer.from('\nMail me at jane.doe@example.com or call +1 (555) 123-4567 \u00a0 now.\n\n \ud83d\ude42 Ünïcödé\n', 'utf8');
    const bytes = new Uint8Array(Buffer.concat([raw.subarray(0, 400_000), pii, raw.subarray(0, 100_000)]));
    const config = resolveDatasetConfig({
      model: 'base',
      format: 'text',
      source: { files: ['x.txt'], documents: 'paragraph' },
      clean: { pii: 'redact', dedup: 'exact' },
    });
    const job: ChunkJob = {
      op: 'chunk',
      file: 'x.txt',
      bytes,
      first: true,
      mode: 'paragraph',
      clean: config.clean,
      types: ['email', 'phone'],
      validSeed: 3,
      sampleSeed: 11,
      tokenizerDir: STORIES_HF,
      vocabSize: 300, // some ids past it: `bad` is exercised
    };
    const native = processChunk(job, tok);
    process.env.PEFTMAKE_NO_TEXT_ADDON = '1';
    const js = processChunk(job, tok);
    expect(native.docs).toBeGreaterThan(100);
    expect(native.tally.records).toBeGreaterThan(0);
    expect(Array.from(native.bad).some((b) => b >= 0)).toBe(true);
    expect(native).toEqual(js);
  });
});
