// Hub dataset sources through the real @huggingface/hub client against a local hub server: parquet splits stored in
// the repo and on refs/convert/parquet, the commit sha recorded by resolve(), a pinned revision, and a second build
// offline from the HF cache with no request. Also a local .parquet source.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startHubServer, type HubServer } from '../../helpers/hub-server.ts';
import { FIXTURES, haveFixtures, prepare, runStage, tempProject } from './helpers.ts';
import { writeParquet } from './parquet-writer.ts';

const SHA_MAIN = 'a'.repeat(40);
const SHA_CONV = 'c'.repeat(40);
const SHA_OLD = 'b'.repeat(40);

const wikiLines = haveFixtures ? readFileSync(join(FIXTURES, 'wikitext-2-raw-v1/wiki.test.raw'), 'utf8').split('\n').slice(0, 400) : [];
const qa = (n: number, tag: string) =>
  writeParquet([
    { name: 'id', type: 'string', values: Array.from({ length: n }, (_, i) => `${tag}${i}`) },
    { name: 'context', type: 'string', values: Array.from({ length: n }, (_, i) => `Tom${i} is a cat who lives in house ${i}.`) },
    { name: 'question', type: 'string', values: Array.from({ length: n }, (_, i) => `Where does Tom${i} live?`) },
    { name: 'answer', type: 'string', values: Array.from({ length: n }, (_, i) => `house ${i}`) },
    { name: 'n', type: 'int64', values: Array.from({ length: n }, (_, i) => i) },
  ]);

describe.skipIf(!haveFixtures)('hub dataset sources (local hub server; needs ../shared/fixtures)', () => {
  let server: HubServer;
  let home: string;
  const saved = { ...process.env };

  beforeAll(async () => {
    server = await startHubServer({
      wikitext: {
        type: 'dataset',
        revisions: { main: SHA_MAIN, 'refs/convert/parquet': SHA_CONV },
        commits: {
          [SHA_MAIN]: { 'README.md': Buffer.from('# wikitext\n') },
          [SHA_CONV]: { 'wikitext-2-raw-v1/test/0000.parquet': writeParquet([{ name: 'text', type: 'string', values: wikiLines }]) },
        },
      },
      'rajpurkar/squad': {
        type: 'dataset',
        revisions: { main: SHA_MAIN, v1: SHA_OLD },
        commits: {
          [SHA_MAIN]: { 'plain_text/train-00000-of-00001.parquet': qa(40, 'new'), 'plain_text/validation-00000-of-00001.parquet': qa(5, 'val') },
          [SHA_OLD]: { 'plain_text/train-00000-of-00001.parquet': qa(20, 'old') },
        },
      },
    });
    process.env.HF_ENDPOINT = server.url;
    delete process.env.HF_TOKEN;
    delete process.env.HF_HUB_CACHE;
  });
  afterAll(async () => {
    process.env = saved;
    await server?.close();
  });
  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), 'peftmake-ds-hf-'));
    process.env.HF_HOME = home;
    delete process.env.HF_HUB_OFFLINE;
    server.clearLog();
    return () => rmSync(home, { recursive: true, force: true });
  });

  it('wikitext from the parquet conversion: sha recorded, then an offline rebuild with no request gives the same data', async () => {
    const project = tempProject();
    const config = { format: 'text', source: { hub: 'wikitext', config: 'wikitext-2-raw-v1', split: 'test' }, split: { valid: 0.1 } };
    const first = await runStage(project, config);
    expect(first.resolved).toMatchObject({
      hub: { id: 'wikitext', sha: SHA_CONV, from: 'parquet-conversion', format: 'parquet', files: ['wikitext-2-raw-v1/test/0000.parquet'] },
    });
    expect(first.stats.sources[0].hub).toEqual({ id: 'wikitext', sha: SHA_CONV, fromCache: true });
    expect(first.stats.steps[0]).toMatchObject({ step: 'read/train', in: 400, out: 400 });
    expect(first.train.length).toBeGreaterThan(10);
    server.clearLog();
    process.env.HF_HUB_OFFLINE = '1';
    const second = await runStage(project, config);
    expect(server.requests).toEqual([]);
    expect(second.resolved).toEqual(first.resolved);
    expect(second.train).toEqual(first.train);
    expect(second.valid).toEqual(first.valid);
  });

  it('a pinned revision reads that commit; a hub validation split; field mapping on parquet columns', async () => {
    const project = tempProject();
    const cfg = (revision: string) => ({
      format: 'qa',
      fields: { answers: 'answer' },
      source: { hub: 'rajpurkar/squad', config: 'plain_text', split: 'train', revision },
      split: { source: { hub: 'rajpurkar/squad', config: 'plain_text', split: 'validation' } },
    });
    const old = await runStage(project, cfg('v1'));
    expect(old.resolved).toMatchObject({ hub: { sha: SHA_OLD, revision: 'v1', from: 'repo' }, validHub: { sha: SHA_MAIN } });
    expect(old.train).toHaveLength(20);
    expect(old.valid).toHaveLength(5);
    expect(old.train[0].text).toBe('Context: Tom0 is a cat who lives in house 0.\nQuestion: Where does Tom0 live?\nAnswer: house 0');
    const pinned = await runStage(project, cfg(SHA_MAIN));
    expect(pinned.resolved).toMatchObject({ hub: { sha: SHA_MAIN } });
    expect(pinned.train).toHaveLength(40);
  });

  it('an unknown split is an E_HUB error naming the dataset', async () => {
    const project = tempProject();
    await expect(runStage(project, { source: { hub: 'rajpurkar/squad', config: 'plain_text', split: 'test' } })).rejects.toThrow(
      /dataset "rajpurkar\/squad" at revision "main" has no data files for config "plain_text", split "test"/,
    );
  });

  it('reads a local .parquet file', async () => {
    const dir = tempProject({ 'data/qa.parquet': qa(6, 'loc') });
    const p = await prepare({ format: 'qa', fields: { answers: 'answer' }, source: { files: ['data/*.parquet'] }, split: { valid: 0 } } as never, dir);
    expect(p.train.map((r) => r.text.split('\n').pop())).toEqual([0, 1, 2, 3, 4, 5].map((i) => `Answer: house ${i}`));
  });
});
