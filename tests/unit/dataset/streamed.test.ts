// The streamed path of `text` datasets (stream-prepare.ts) writes the in-memory path's files byte for byte: on one
// thread and on the workers, with chunks small enough that documents, duplicates and PII sit in many chunks (dedup
// across chunk boundaries), for paragraph / line / file documents, CRLF and a BOM, limit (random and first), a valid
// source, maxTokens (truncate and drop) and dedup none; its train/valid/samples bytes equal what main (e6f69ef)
// wrote for the same corpus; a worker's failure comes back as a PeftError naming the file.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PeftError } from '../../../src/errors.ts';
import { buildDataset } from '../../../stages/dataset/build-dataset.ts';
import { resolveDatasetConfig } from '../../../stages/dataset/config.ts';
import { prepareDataset } from '../../../stages/dataset/prepare.ts';
import type { DatasetConfig } from '../../../stages/dataset/schema.ts';
import { DigestSet } from '../../../stages/dataset/digest-set.ts';
import { cutPoint, textChunks } from '../../../stages/dataset/stream-chunks.ts';
import { TokenSpool } from '../../../stages/dataset/token-spool.ts';
import { writeDataset } from '../../../stages/dataset/write.ts';
import { FIXTURES, haveFixtures, storiesTokenizer } from '../../functional/dataset/helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'peftmake-ds-streamed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let outs = 0;

function filesOf(out: string): Record<string, Buffer> {
  return Object.fromEntries(readdirSync(out).map((f) => [f, readFileSync(join(out, f))]));
}

async function inMemory(config: DatasetConfig): Promise<Record<string, Buffer>> {
  const out = join(dir, `out${outs++}`);
  mkdirSync(out);
  const tok = storiesTokenizer();
  await writeDataset(out, await prepareDataset(config, { name: 'datasets.s', projectDir: dir, tokenizer: tok, workers: 1 }), tok);
  return filesOf(out);
}

async function streamed(config: DatasetConfig, workers: number, chunkBytes?: number): Promise<Record<string, Buffer>> {
  const out = join(dir, `out${outs++}`);
  mkdirSync(out);
  const tok = storiesTokenizer();
  const r = await buildDataset(out, config, { name: 'datasets.s', projectDir: dir, tokenizer: tok, workers, chunkBytes }, tok);
  expect(r.streamed).toBe(true);
  const files = filesOf(out);
  expect(Object.keys(files).sort()).toEqual(['samples.txt', 'stats.json', 'stats.txt', 'train.jsonl', 'valid.jsonl']); // no scratch file left
  return files;
}

function expectSame(a: Record<string, Buffer>, b: Record<string, Buffer>): void {
  expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
  for (const f of Object.keys(a)) expect(b[f].equals(a[f]), f).toBe(true);
}

describe('streamed path parts', () => {
  it('the token spool gives back every id in order, from memory and past its budget from its scratch file (2-byte and 4-byte blocks)', () => {
    const file = join(dir, 'spool.tmp');
    const spool = new TokenSpool(file, 1000);
    const want: number[] = [];
    for (let k = 0; k < 300; k++) {
      const ids = Int32Array.from({ length: (k * 37) % 90 }, (_, i) => k * 100 + i);
      want.push(...ids);
      spool.append(ids);
    }
    spool.append(Int32Array.from({ length: 2500 }, (_, i) => -1 - i)); // larger than the memory budget on its own
    for (let i = 0; i < 2500; i++) want.push(-1 - i);
    expect(spool.total).toBe(want.length);
    const got: number[] = [];
    for (const b of spool.blocks(333)) got.push(...b);
    expect(got).toEqual(want);
    expect(readdirSync(dir)).toContain('spool.tmp');
    spool.close();
    expect(readdirSync(dir)).not.toContain('spool.tmp');
  });

  it('the digest set tells new digests from seen ones (the all-zero one too) as it grows', () => {
    const set = new DigestSet();
    const d = new Int32Array(4 * 20_000);
    for (let i = 0; i < d.length; i++) d[i] = Math.imul(i + 1, 0x9e3779b1) >> (i % 4 === 0 ? 12 : 0);
    d.fill(0, 0, 4);
    let added = 0;
    for (let k = 0; k < 20_000; k++) if (set.add(d, 4 * k)) added++;
    let again = 0;
    for (let k = 0; k < 20_000; k += 7) if (set.add(d, 4 * k)) again++;
    expect([added, again]).toEqual([20_000, 0]);
    expect(set.size).toBe(20_000);
  });
});

describe('streamed chunks', () => {
  it('cut after a line end; in paragraph mode only before a blank line (spaces, U+3000 and CR count as blank)', () => {
    const b = Buffer.from('ab\ncd\n \t\nef\n\u3000\r\ngh\n');
    expect(cutPoint(b, 0, b.length, 'line')).toBe(3);
    expect(cutPoint(b, 0, b.length, 'paragraph')).toBe(6); // before " \t"
    expect(cutPoint(b, 7, b.length, 'paragraph')).toBe(12); // before "\u3000\r"
    expect(cutPoint(b, 0, 8, 'paragraph')).toBe(-1); // the blank line is not complete yet
    const file = join(dir, 'chunks.txt');
    const text = Array.from({ length: 300 }, (_, i) => `line ${i}\n${i % 7 === 0 ? '\n' : ''}`).join('');
    writeFileSync(file, text);
    for (const mode of ['paragraph', 'line'] as const) {
      const chunks = [...textChunks(file, mode, 64)];
      expect(chunks.length).toBeGreaterThan(10);
      expect(Buffer.concat(chunks).toString()).toBe(text);
      for (const c of chunks.slice(0, -1)) {
        expect(c[c.length - 1]).toBe(10);
        if (mode === 'paragraph') expect(text.slice(Buffer.concat(chunks.slice(0, chunks.indexOf(c) + 1)).length).startsWith('\n')).toBe(true);
      }
    }
    expect([...textChunks(file, 'file', 64)].length).toBe(1);
  });
});

describe.skipIf(!haveFixtures)('streamed dataset preparation', () => {
  const wiki = haveFixtures ? readFileSync(join(FIXTURES, 'wikitext-2-raw-v1', 'wiki.valid.raw'), 'utf8') : '';

  it("writes main's bytes for a wikitext corpus, on one thread and on the workers, in chunks of 16 KB", async () => {
    writeFileSync(join(dir, 'corpus.txt'), `${wiki.slice(0, 200_000)}\n\nWrite to ada@example.com or call 555-123-4567 .\n\n${wiki.slice(0, 50_000)}\n`);
    const config = resolveDatasetConfig({
      model: 'base',
      format: 'text',
      source: { files: ['corpus.txt'], documents: 'paragraph' },
      clean: { pii: 'redact', dedup: 'exact' },
      split: { valid: 0.1, seed: 3 },
      seqLen: 128,
    });
    const memory = await inMemory(config);
    const one = await streamed(config, 1, 16_384);
    const two = await streamed(config, 2, 16_384);
    expectSame(memory, one);
    expectSame(memory, two);
    // main's in-memory path (e6f69ef) wrote these bytes for this corpus and config (stats.json names local paths)
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    expect(sha(two['train.jsonl'])).toBe('0c47c5f5a32b5c8b6782ef6f219d9859400999fc8b8585f73f81c0b4af20d29f');
    expect(sha(two['valid.jsonl'])).toBe('08dc13d51ee13497f6fdbf33877b447d15a8f17b6732589914e53d16dd26b74c');
    expect(sha(two['samples.txt'])).toBe('2a1cf2f5c7c9ae6c01fe956e8d62654989556ad97248350f3e0452112c6b6bd4');
    // the duplicated 50 KB sits in other chunks than its first copy: dedup across chunk boundaries
    const stats = JSON.parse(two['stats.json'].toString());
    expect(stats.steps.find((s: { step: string }) => s.step === 'dedup/train').removed['exact duplicate']).toBeGreaterThan(50);
    expect(stats.pii.byType).toEqual({ email: 1, phone: 1 });
  });

  it('equals the in-memory path for line and file documents, CRLF, a BOM, limit, maxTokens, a valid source and dedup none (and fails as it does)', async () => {
    const crlf = `\uFEFF${wiki.slice(0, 60_000).replaceAll('\n', '\r\n')}`;
    writeFileSync(join(dir, 'crlf.txt'), crlf);
    writeFileSync(join(dir, 'b.md'), wiki.slice(60_000, 90_000));
    writeFileSync(join(dir, 'v.txt'), wiki.slice(90_000, 120_000));
    const cases: Partial<DatasetConfig>[] = [
      {
        source: { files: ['crlf.txt'], documents: 'line' },
        clean: { dedup: 'none' } as DatasetConfig['clean'],
        limit: 300,
        sample: 'random',
        maxTokens: 40,
        overLength: 'truncate',
        seqLen: 64,
      },
      { source: { files: ['crlf.txt', 'b.md'], documents: 'paragraph' }, limit: 50, sample: 'first', split: { valid: 0.2, seed: 5, source: null } },
      { source: { files: ['crlf.txt', 'b.md'], documents: 'file' }, split: { valid: 0, seed: null, source: { files: ['v.txt'], documents: 'paragraph' } } },
      {
        source: { files: ['crlf.txt'], documents: 'paragraph' },
        clean: { pii: 'drop', minChars: 80, maxChars: 2000 } as DatasetConfig['clean'],
        maxTokens: 400,
        overLength: 'drop',
        split: { valid: 0.3, seed: null, source: null },
      },
      // every valid document over maxTokens: both paths fail with the same error
      { source: { files: ['crlf.txt'], documents: 'paragraph' }, maxTokens: 200, overLength: 'drop' },
    ];
    for (const c of cases) {
      const config = resolveDatasetConfig({ model: 'base', format: 'text', ...(c as Record<string, never>) });
      const memory = await inMemory(config).catch((e: Error) => e);
      for (const workers of [1, 2]) {
        const got = await streamed(config, workers, 4096).catch((e: Error) => e);
        if (memory instanceof Error) expect((got as Error).message).toBe(memory.message);
        else expectSame(memory, got as Record<string, Buffer>);
      }
    }
  });

  it("names the record whose ids pass the model's vocabulary as the in-memory path does", async () => {
    writeFileSync(join(dir, 'vocab.txt'), wiki.slice(0, 40_000));
    const config = resolveDatasetConfig({
      model: 'base',
      format: 'text',
      source: { files: ['vocab.txt'], documents: 'paragraph' },
      split: { valid: 0.5, seed: 1 },
    });
    const vocab = { size: 400, model: 'models.base' };
    const opts = { name: 'datasets.s', projectDir: dir, tokenizer: storiesTokenizer(), vocab };
    const memory = await prepareDataset(config, { ...opts, workers: 1 }).catch((e: Error) => e);
    expect(memory).toBeInstanceOf(PeftError);
    expect((memory as Error).message).toMatch(/^vocab\.txt:\d+: the tokenizer .* turns this record into token id \d+/);
    for (const workers of [1, 2]) {
      const out = join(dir, `out${outs++}`);
      mkdirSync(out);
      const err = await buildDataset(out, config, { ...opts, workers, chunkBytes: 2048 }).catch((e: Error) => e);
      expect((err as Error).message).toBe((memory as Error).message);
    }
  });

  it('reports a file that is not UTF-8 and a worker that fails as PeftErrors naming the file', async () => {
    writeFileSync(join(dir, 'bad.txt'), Buffer.concat([Buffer.from('good line\n\nsecond\n\n'), Buffer.from([0xff, 0xfe, 0x41]), Buffer.from('\n')]));
    const config = resolveDatasetConfig({ model: 'base', format: 'text', source: { files: ['bad.txt'], documents: 'paragraph' } });
    for (const workers of [1, 2]) {
      const out = join(dir, `out${outs++}`);
      mkdirSync(out);
      const err = await buildDataset(out, config, { name: 'datasets.s', projectDir: dir, tokenizer: storiesTokenizer(), workers, chunkBytes: 8 }).catch(
        (e) => e,
      );
      expect(err).toBeInstanceOf(PeftError);
      expect(err.code).toBe('E_DATA');
      expect(err.message).toContain('bad.txt:5: not valid UTF-8');
      expect(readdirSync(out).filter((f) => f.startsWith('.'))).toEqual([]); // no scratch file left
    }
    // the workers load the tokenizer from its directory: one that is gone fails there, and says so
    writeFileSync(join(dir, 'ok.txt'), 'some text\n\nmore text\n');
    const okConfig = resolveDatasetConfig({ model: 'base', format: 'text', source: { files: ['ok.txt'], documents: 'paragraph' } });
    const gone = Object.assign(Object.create(Object.getPrototypeOf(storiesTokenizer())), storiesTokenizer(), { dir: join(dir, 'no-model') });
    const out = join(dir, `out${outs++}`);
    mkdirSync(out);
    const err = await buildDataset(out, okConfig, { name: 'datasets.s', projectDir: dir, tokenizer: gone, workers: 2 }).catch((e) => e);
    expect(err).toBeInstanceOf(PeftError);
    expect(err.code).toBe('E_MODEL');
    expect(err.message).toContain(join(dir, 'no-model'));
  });
});
