// Dataset preparation on worker threads gives the single-thread result byte for byte: wikitext-2 (valid, with
// a duplicated stretch and planted PII so dedup and redaction cross chunk boundaries) as a `text` dataset, written
// both ways, every output file compared; and a second preparation reuses the same workers.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveDatasetConfig } from '../../../stages/dataset/config.ts';
import { prepareDataset } from '../../../stages/dataset/prepare.ts';
import { writeDataset } from '../../../stages/dataset/write.ts';
import { FIXTURES, haveFixtures, storiesTokenizer } from '../../functional/dataset/helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'peftmake-ds-parallel-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function prepareWith(workers: number, files: string[], out: string, valid?: string[]): Promise<Record<string, Buffer>> {
  const config = resolveDatasetConfig({
    model: 'base',
    format: 'text',
    source: { files, documents: 'paragraph' },
    clean: { pii: 'redact', dedup: 'exact' },
    split: valid ? { source: { files: valid, documents: 'paragraph' } } : { valid: 0.1, seed: 3 },
    seqLen: 128,
  });
  const p = await prepareDataset(config, { name: 'datasets.par', projectDir: dir, tokenizer: storiesTokenizer(), workers });
  mkdirSync(out);
  await writeDataset(out, p);
  return Object.fromEntries(readdirSync(out).map((f) => [f, readFileSync(join(out, f))]));
}

describe.skipIf(!haveFixtures)('dataset preparation on worker threads', () => {
  it('equals the single-thread output byte for byte, and reuses its workers', async () => {
    const wiki = join(FIXTURES, 'wikitext-2-raw-v1');
    const text = readFileSync(join(wiki, 'wiki.valid.raw'), 'utf8'); // 1.1 MB: two clean chunks
    const corpus = join(dir, 'corpus.txt');
    // a stretch repeated (exact duplicates in another chunk) and PII in several chunks
    writeFileSync(corpus, `${text}\n\nWrite to ada@example.com or call 555-123-4567 .\n\n${text.slice(0, 300_000)}\n\nada@example.com again\n`);
    const serial = await prepareWith(1, [corpus], join(dir, 'serial'));
    const parallel = await prepareWith(2, [corpus], join(dir, 'parallel'));
    expect(Object.keys(parallel).sort()).toEqual(['stats.json', 'stats.txt', 'train.jsonl', 'valid.jsonl']);
    for (const f of Object.keys(serial)) expect(parallel[f].equals(serial[f]), f).toBe(true);
    const stats = JSON.parse(serial['stats.json'].toString());
    expect(stats.pii.records).toBeGreaterThan(1);
    expect(stats.steps.find((s: { step: string }) => s.step === 'dedup/train').removed['exact duplicate']).toBeGreaterThan(100);
    // a valid split from its own source: item indices of both sources live in the same workers
    const trainFile = join(dir, 'train.txt');
    const validFile = join(dir, 'valid.txt');
    writeFileSync(trainFile, readFileSync(join(wiki, 'wiki.test.raw'), 'utf8').slice(0, 400_000));
    writeFileSync(validFile, text.slice(0, 150_000));
    const serial2 = await prepareWith(1, [trainFile], join(dir, 'serial2'), [validFile]);
    const parallel2 = await prepareWith(2, [trainFile], join(dir, 'parallel2'), [validFile]);
    for (const f of Object.keys(serial2)) expect(parallel2[f].equals(serial2[f]), f).toBe(true);
  });
});
