// Dataset split files from a local hub server: files stored in the repo (parquet / jsonl), the refs/convert/parquet
// fallback, offline second runs and the error for a missing split. Also the file-selection rules and glob matching.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PeftError } from '../../../src/errors.ts';
import { FNMATCH_GLOB, globToRegExp as compileGlob } from '../../../src/util/glob.ts';
import { downloadDatasetSplit, selectConversionFiles, selectSplitFiles, type HubOptions } from '../../../src/hub/index.ts';
import { startHubServer, type HubServer } from '../../helpers/hub-server.ts';

const globToRegExp = (pattern: string): RegExp => compileGlob(pattern, FNMATCH_GLOB);

const FIXTURES = resolve(import.meta.dirname, '../../../../shared/fixtures');
const WIKI = join(FIXTURES, 'wikitext-2-raw-v1');
const SQUAD = join(FIXTURES, 'squad-v1.1/dev-v1.1.json');
const haveFixtures = existsSync(WIKI) && existsSync(SQUAD);

const SHA_MAIN = '1111111111111111111111111111111111111111';
const SHA_CONV = '2222222222222222222222222222222222222222';

describe('data file selection rules', () => {
  const repoFiles = [
    'README.md',
    'plain_text/train-00000-of-00002.parquet',
    'plain_text/train-00001-of-00002.parquet',
    'plain_text/validation-00000-of-00001.parquet',
    'other/train-00000-of-00001.parquet',
    'data/pretrain.jsonl',
  ];
  it('picks the split of the named config, sorted, and ignores look-alike words', () => {
    expect(selectSplitFiles(repoFiles, 'plain_text', 'train')).toEqual({
      paths: ['plain_text/train-00000-of-00002.parquet', 'plain_text/train-00001-of-00002.parquet'],
      format: 'parquet',
    });
    expect(selectSplitFiles(repoFiles, 'plain_text', 'validation').paths).toEqual(['plain_text/validation-00000-of-00001.parquet']);
    expect(selectSplitFiles(repoFiles, 'plain_text', 'test').paths).toEqual([]);
    expect(selectSplitFiles(['data/pretrain.jsonl'], undefined, 'train').paths).toEqual([]);
  });
  it('supports split directories and prefers parquet over jsonl', () => {
    expect(selectSplitFiles(['data/train/a.jsonl', 'data/train/b.jsonl', 'data/valid.csv'], undefined, 'train')).toEqual({
      paths: ['data/train/a.jsonl', 'data/train/b.jsonl'],
      format: 'jsonl',
    });
    expect(selectSplitFiles(['train.jsonl', 'train.parquet'], undefined, 'train')).toEqual({ paths: ['train.parquet'], format: 'parquet' });
  });
  it('reads both layouts of the parquet conversion branch', () => {
    expect(selectConversionFiles(['cfg/train/0000.parquet', 'cfg/train/0001.parquet', 'cfg/test/0000.parquet'], undefined, 'train')).toEqual({
      paths: ['cfg/train/0000.parquet', 'cfg/train/0001.parquet'],
      config: 'cfg',
    });
    expect(selectConversionFiles(['a/x-train.parquet', 'b/x-train.parquet'], 'b', 'train')).toEqual({ paths: ['b/x-train.parquet'], config: 'b' });
    expect(selectConversionFiles(['a/x-train.parquet', 'b/x-train.parquet'], undefined, 'train').paths).toEqual([]);
  });
  it('globs follow fnmatch: * crosses folders, ? one char, [..] classes, {a,b} alternatives', () => {
    expect(globToRegExp('*.safetensors').test('sub/model-00001.safetensors')).toBe(true);
    expect(globToRegExp('tokenizer*.json').test('tokenizer_config.json')).toBe(true);
    expect(globToRegExp('tokenizer*.json').test('config.json')).toBe(false);
    expect(globToRegExp('model-0000?.bin').test('model-00001.bin')).toBe(true);
    expect(globToRegExp('{config,generation_config}.json').test('generation_config.json')).toBe(true);
    expect(globToRegExp('[!c]*.json').test('config.json')).toBe(false);
    expect(globToRegExp('a.b').test('axb')).toBe(false);
  });
});

describe.skipIf(!haveFixtures)('dataset splits from the hub (local server; needs ../shared/fixtures wikitext + squad)', () => {
  let server: HubServer;
  let home: string;
  const opts = (env: NodeJS.ProcessEnv = {}): HubOptions => ({ hubUrl: server.url, env: { HF_HOME: home, ...env } });
  // Read only when the fixtures exist: a skipped describe block still runs its body to collect tests.
  const read = (p: string) => (haveFixtures ? readFileSync(p) : Buffer.alloc(0));
  const squad = read(SQUAD);
  const wikiTest = read(join(WIKI, 'wiki.test.raw'));
  const wikiValid = read(join(WIKI, 'wiki.valid.raw'));
  const jsonl = Buffer.from(['{"text":"one"}', '{"text":"two"}'].join('\n') + '\n');

  beforeAll(async () => {
    server = await startHubServer({
      // Stored files; the bytes stand in for parquet shards (this library moves files, it does not parse them).
      'rajpurkar/squad': {
        type: 'dataset',
        revisions: { main: SHA_MAIN },
        files: {
          'README.md': Buffer.from('# squad\n'),
          'plain_text/validation-00000-of-00001.parquet': squad,
          'plain_text/train-00000-of-00001.parquet': jsonl,
        },
      },
      // Only a README on main; the data lives on the parquet conversion branch.
      wikitext: {
        type: 'dataset',
        revisions: { main: SHA_MAIN, 'refs/convert/parquet': SHA_CONV },
        commits: {
          [SHA_MAIN]: { 'README.md': Buffer.from('# wikitext\n') },
          [SHA_CONV]: { 'wikitext-2-raw-v1/test/0000.parquet': wikiTest, 'wikitext-2-raw-v1/validation/0000.parquet': wikiValid },
        },
      },
      'org/notes': { type: 'dataset', revisions: { main: SHA_MAIN }, files: { 'data/train.jsonl': jsonl, 'data/validation.jsonl': jsonl } },
    });
  });
  afterAll(async () => server?.close());
  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), 'peftmake-hfds-'));
    server.clearLog();
    return () => rmSync(home, { recursive: true, force: true });
  });

  it('downloads a split stored in the repo, then serves it offline with no request', async () => {
    const res = await downloadDatasetSplit({ id: 'rajpurkar/squad', config: 'plain_text', split: 'validation' }, opts());
    expect(res).toMatchObject({ sha: SHA_MAIN, revision: 'main', source: 'repo', format: 'parquet', fromCache: false });
    expect(res.files.map((f) => f.path)).toEqual(['plain_text/validation-00000-of-00001.parquet']);
    expect(res.files[0].localPath).toBe(join(home, 'hub', 'datasets--rajpurkar--squad', 'snapshots', SHA_MAIN, 'plain_text/validation-00000-of-00001.parquet'));
    expect(readFileSync(res.files[0].localPath).equals(squad)).toBe(true);
    expect(readFileSync(join(home, 'hub', 'datasets--rajpurkar--squad', 'refs', 'main'), 'utf8')).toBe(SHA_MAIN);
    server.clearLog();
    const again = await downloadDatasetSplit({ id: 'rajpurkar/squad', config: 'plain_text', split: 'validation' }, opts({ HF_HUB_OFFLINE: '1' }));
    expect(again).toMatchObject({ sha: SHA_MAIN, fromCache: true });
    expect(server.requests).toEqual([]);
  });

  it('falls back to refs/convert/parquet and records that ref', async () => {
    const res = await downloadDatasetSplit({ id: 'wikitext', config: 'wikitext-2-raw-v1', split: 'test' }, opts());
    expect(res).toMatchObject({ sha: SHA_CONV, revision: 'refs/convert/parquet', source: 'parquet-conversion', config: 'wikitext-2-raw-v1' });
    expect(readFileSync(res.files[0].localPath).equals(wikiTest)).toBe(true);
    const repoDir = join(home, 'hub', 'datasets--wikitext');
    expect(readFileSync(join(repoDir, 'refs', 'refs', 'convert', 'parquet'), 'utf8')).toBe(SHA_CONV);
    expect(readFileSync(join(repoDir, 'refs', 'main'), 'utf8')).toBe(SHA_MAIN);
    server.clearLog();
    const again = await downloadDatasetSplit({ id: 'wikitext', config: 'wikitext-2-raw-v1', split: 'test' }, opts({ HF_HUB_OFFLINE: '1' }));
    expect(again.fromCache).toBe(true);
    expect(server.requests).toEqual([]);
    const direct = await downloadDatasetSplit({ id: 'wikitext', split: 'validation', revision: 'refs/convert/parquet' }, opts());
    expect(readFileSync(direct.files[0].localPath).equals(wikiValid)).toBe(true);
  });

  it('finds jsonl splits without a config', async () => {
    const res = await downloadDatasetSplit({ id: 'org/notes', split: 'train' }, opts());
    expect(res).toMatchObject({ format: 'jsonl', source: 'repo' });
    expect(res.files.map((f) => f.path)).toEqual(['data/train.jsonl']);
  });

  it('a split that exists nowhere is an E_HUB error naming dataset, config and split', async () => {
    const e = await downloadDatasetSplit({ id: 'wikitext', config: 'wikitext-2-raw-v1', split: 'train' }, opts()).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(PeftError);
    expect((e as PeftError).code).toBe('E_HUB');
    expect((e as PeftError).message).toBe(
      'dataset "wikitext" at revision "main" has no data files for config "wikitext-2-raw-v1", split "train" (neither in the repo nor in its parquet conversion); folders seen: wikitext-2-raw-v1',
    );
    const off = await downloadDatasetSplit({ id: 'org/notes', split: 'train' }, opts({ HF_HUB_OFFLINE: '1' })).catch((x: unknown) => x);
    expect((off as PeftError).message).toContain('offline (HF_HUB_OFFLINE=1) and dataset "org/notes" at revision "main" is not in the cache');
  });
});
