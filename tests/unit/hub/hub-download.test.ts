// The hub library against a local hub server with the real @huggingface/hub client: revision resolution, the exact
// HF cache layout, pinned revisions, offline second runs, HF_TOKEN as Bearer, and every E_HUB error. No network.
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { scanCacheDir } from '@huggingface/hub';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PeftError } from '../../../src/errors.ts';
import { downloadModelFiles, downloadRepoFiles, resolveRevision, type DownloadProgress, type HubOptions } from '../../../src/hub/index.ts';
import { filesFromDir, startHubServer, type HubServer } from '../../helpers/hub-server.ts';

const FIXTURES = resolve(import.meta.dirname, '../../../../shared/fixtures');
const STORIES = join(FIXTURES, 'stories260K/hf');
const haveFixtures = existsSync(STORIES);

const SHA_MAIN = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';
const SHA_OLD = '0123456789abcdef0123456789abcdef01234567';
const SHA_NEW = 'fedcba9876543210fedcba9876543210fedcba98';
const TOKEN = 'hf_localTestToken123';

let server: HubServer;
let home: string;

function opts(extra: Partial<HubOptions> & { env?: NodeJS.ProcessEnv } = {}): HubOptions {
  return { hubUrl: server.url, ...extra, env: { HF_HOME: home, ...extra.env } };
}

async function hubErr(p: Promise<unknown>): Promise<PeftError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(PeftError);
  return e as PeftError;
}

describe.skipIf(!haveFixtures)('hub downloads into the HF cache (local hub server; needs ../shared/fixtures/stories260K)', () => {
  beforeAll(async () => {
    server = await startHubServer({
      'karpathy/stories260K': { type: 'model', revisions: { main: SHA_MAIN, 'v1.0': SHA_MAIN }, files: filesFromDir(STORIES) },
      'org/two-revs': {
        type: 'model',
        revisions: { main: SHA_NEW, old: SHA_OLD },
        commits: { [SHA_OLD]: { 'config.json': Buffer.from('{"v":1}') }, [SHA_NEW]: { 'config.json': Buffer.from('{"v":2}') } },
      },
      'org/private-model': {
        type: 'model',
        private: true,
        tokens: [TOKEN],
        revisions: { main: SHA_MAIN },
        files: { 'config.json': Buffer.from('{"private":true}') },
      },
      'org/gated-model': {
        type: 'model',
        gated: true,
        tokens: [TOKEN],
        revisions: { main: SHA_MAIN },
        files: { 'config.json': Buffer.from('{"gated":true}') },
      },
      'org/bin-only': { type: 'model', revisions: { main: SHA_MAIN }, files: { 'config.json': Buffer.from('{}'), 'pytorch_model.bin': Buffer.from('pickle') } },
      'org/flaky': {
        type: 'model',
        revisions: { main: SHA_MAIN },
        corrupt: ['model.safetensors'],
        files: { 'config.json': Buffer.from('{}'), 'model.safetensors': readFileSync(join(STORIES, 'model.safetensors')) },
      },
    });
  });
  afterAll(async () => server?.close());
  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), 'peftmake-hf-'));
    server.clearLog();
    return () => rmSync(home, { recursive: true, force: true });
  });

  it('resolves a branch and a tag to the commit sha', async () => {
    expect((await resolveRevision({ type: 'model', id: 'karpathy/stories260K' }, 'main', opts())).sha).toBe(SHA_MAIN);
    const tag = await resolveRevision({ type: 'model', id: 'karpathy/stories260K' }, 'v1.0', opts());
    expect(tag).toMatchObject({ sha: SHA_MAIN, fromCache: false });
    expect(server.requests.map((r) => r.path.split('?')[0])).toEqual([
      '/api/models/karpathy/stories260K/revision/main',
      '/api/models/karpathy/stories260K/revision/v1.0',
    ]);
  });

  it('downloads by pattern into blobs/snapshots/refs with relative symlinks, verified bytes and progress', async () => {
    const events: DownloadProgress[] = [];
    const res = await downloadRepoFiles(
      {
        repo: { type: 'model', id: 'karpathy/stories260K' },
        include: ['*.safetensors', 'config.json', 'tokenizer*.json'],
        onProgress: (p) => events.push({ ...p }),
      },
      opts(),
    );
    expect(res.sha).toBe(SHA_MAIN);
    expect(res.fromCache).toBe(false);
    expect(res.files.map((f) => f.path)).toEqual(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    const repoDir = join(home, 'hub', 'models--karpathy--stories260K');
    expect(res.snapshotDir).toBe(join(repoDir, 'snapshots', SHA_MAIN));
    expect(readFileSync(join(repoDir, 'refs', 'main'), 'utf8')).toBe(SHA_MAIN);
    const model = readFileSync(join(STORIES, 'model.safetensors'));
    const sha256 = createHash('sha256').update(model).digest('hex');
    const link = join(res.snapshotDir, 'model.safetensors');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe(`../../blobs/${sha256}`);
    expect(readFileSync(link).equals(model)).toBe(true);
    const cfg = readFileSync(join(STORIES, 'config.json'));
    expect(readlinkSync(join(res.snapshotDir, 'config.json'))).toBe(`../../blobs/${server.gitOid(cfg)}`);
    expect(readdirSync(join(repoDir, 'blobs')).sort()).toEqual(
      [
        sha256,
        server.gitOid(cfg),
        server.gitOid(readFileSync(join(STORIES, 'tokenizer.json'))),
        server.gitOid(readFileSync(join(STORIES, 'tokenizer_config.json'))),
      ].sort(),
    );
    // generation_config.json and special_tokens_map.json were not asked for.
    expect(existsSync(join(res.snapshotDir, 'generation_config.json'))).toBe(false);
    const total =
      model.length + cfg.length + readFileSync(join(STORIES, 'tokenizer.json')).length + readFileSync(join(STORIES, 'tokenizer_config.json')).length;
    expect(res.bytesDownloaded).toBe(total);
    const last = events[events.length - 1];
    expect(last).toMatchObject({ bytesDone: total, bytesTotal: total, filesTotal: 4 });
    for (let i = 1; i < events.length; i++) expect(events[i].bytesDone).toBeGreaterThanOrEqual(events[i - 1].bytesDone);
    // The library's own cache scanner reads what we wrote.
    const scan = await scanCacheDir(join(home, 'hub'));
    const repo = scan.repos.find((r) => r.id.name === 'karpathy/stories260K');
    expect(repo?.revisions.map((r) => [r.commitOid, r.refs, r.files.length])).toEqual([[SHA_MAIN, ['main'], 4]]);
  });

  it('a second call makes no request, and works offline with the server gone from the picture', async () => {
    const req = { repo: { type: 'model' as const, id: 'karpathy/stories260K' }, include: ['*.safetensors', 'config.json'] };
    await downloadRepoFiles(req, opts());
    server.clearLog();
    const again = await downloadRepoFiles(req, opts());
    expect(again.fromCache).toBe(true);
    expect(again.sha).toBe(SHA_MAIN);
    expect(server.requests).toEqual([]);
    const offline = await downloadRepoFiles(req, opts({ hubUrl: 'http://127.0.0.1:9', env: { HF_HUB_OFFLINE: '1' } }));
    expect(offline.files.map((f) => f.path)).toEqual(['config.json', 'model.safetensors']);
    expect(readFileSync(offline.files[1].localPath).equals(readFileSync(join(STORIES, 'model.safetensors')))).toBe(true);
    // A pattern the first call did not fetch is a download of just that file.
    const more = await downloadRepoFiles({ ...req, include: ['tokenizer.json'] }, opts());
    expect(more.fromCache).toBe(false);
    expect(server.requests.filter((r) => r.path.includes('/resolve/')).every((r) => r.path.endsWith('tokenizer.json'))).toBe(true);
  });

  it('pins revisions: branch names and shas give their own commit, offline by sha', async () => {
    const repo = { type: 'model' as const, id: 'org/two-revs' };
    const old = await downloadRepoFiles({ repo, revision: 'old', include: ['config.json'] }, opts());
    const cur = await downloadRepoFiles({ repo, include: ['config.json'] }, opts());
    expect([old.sha, cur.sha]).toEqual([SHA_OLD, SHA_NEW]);
    expect(readFileSync(old.files[0].localPath, 'utf8')).toBe('{"v":1}');
    expect(readFileSync(cur.files[0].localPath, 'utf8')).toBe('{"v":2}');
    const repoDir = join(home, 'hub', 'models--org--two-revs');
    expect(readFileSync(join(repoDir, 'refs', 'old'), 'utf8')).toBe(SHA_OLD);
    server.clearLog();
    const bySha = await downloadRepoFiles({ repo, revision: SHA_OLD, include: ['config.json'] }, opts({ env: { HF_HUB_OFFLINE: '1' } }));
    expect(readFileSync(bySha.files[0].localPath, 'utf8')).toBe('{"v":1}');
    expect((await resolveRevision(repo, 'old', opts({ env: { HF_HUB_OFFLINE: '1' } }))).sha).toBe(SHA_OLD);
    expect(server.requests).toEqual([]);
    // refresh asks the hub again for a branch.
    expect((await resolveRevision(repo, 'main', opts({ refresh: true }))).fromCache).toBe(false);
  });

  it('sends HF_TOKEN as a Bearer token on every request and reads a private repo with it', async () => {
    const res = await downloadRepoFiles({ repo: { type: 'model', id: 'org/private-model' }, include: ['config.json'] }, opts({ env: { HF_TOKEN: TOKEN } }));
    expect(readFileSync(res.files[0].localPath, 'utf8')).toBe('{"private":true}');
    expect(server.requests.length).toBeGreaterThanOrEqual(3);
    expect(server.requests.every((r) => r.authorization === `Bearer ${TOKEN}`)).toBe(true);
  });

  it('401 without a token names HF_TOKEN; 403 on a gated repo says gated', async () => {
    const e401 = await hubErr(downloadRepoFiles({ repo: { type: 'model', id: 'org/private-model' }, include: ['config.json'] }, opts()));
    expect(e401.code).toBe('E_HUB');
    expect(e401.message).toContain('org/private-model');
    expect(e401.message).toContain('401');
    expect(e401.details.hint).toContain('HF_TOKEN');
    const gated = await hubErr(
      downloadRepoFiles({ repo: { type: 'model', id: 'org/gated-model' }, include: ['config.json'] }, opts({ env: { HF_TOKEN: 'hf_someoneElse' } })),
    );
    expect(gated.message).toMatch(/model "org\/gated-model" at revision "main".*is gated/);
    expect(gated.details.hint).toContain('accept the conditions');
    const bad = await hubErr(resolveRevision({ type: 'model', id: 'org/private-model' }, 'main', opts({ env: { HF_TOKEN: 'not-a-token' } })));
    expect(bad.message).toContain('HF_TOKEN is not a Hugging Face token');
  });

  it('unknown repo, unknown revision, unmatched pattern and offline-not-cached are clear E_HUB errors', async () => {
    const nf = await hubErr(resolveRevision({ type: 'model', id: 'org/nope' }, 'main', opts({ env: { HF_TOKEN: TOKEN } })));
    expect(nf.message).toBe('model "org/nope" at revision "main": repository not found (HTTP 404)');
    const rev = await hubErr(
      downloadRepoFiles({ repo: { type: 'model', id: 'karpathy/stories260K' }, revision: 'no-such-branch', include: ['config.json'] }, opts()),
    );
    expect(rev.message).toBe('model "karpathy/stories260K" has no revision "no-such-branch" (not a branch, tag or commit of the repo)');
    const pat = await hubErr(downloadRepoFiles({ repo: { type: 'model', id: 'karpathy/stories260K' }, include: ['*.gguf', 'config.json'] }, opts()));
    expect(pat.message).toMatch(/has no file matching "\*\.gguf"; it has 6 files: config\.json, generation_config\.json/);
    const off = await hubErr(
      downloadRepoFiles({ repo: { type: 'model', id: 'karpathy/stories260K' }, include: ['config.json'] }, opts({ env: { HF_HUB_OFFLINE: '1' } })),
    );
    expect(off.message).toContain('offline (HF_HUB_OFFLINE=1)');
    expect(off.message).toContain('"karpathy/stories260K" at revision "main" is not in the cache');
    expect(off.details.hint).toContain('unset HF_HUB_OFFLINE');
    const down = await hubErr(resolveRevision({ type: 'model', id: 'karpathy/stories260K' }, 'main', opts({ hubUrl: 'http://127.0.0.1:9' })));
    expect(down.message).toContain('cannot reach the hub at http://127.0.0.1:9');
    expect(down.details.hint).toContain('HF_HUB_OFFLINE=1');
  });

  it('downloadModelFiles takes config, weights and tokenizer files; LFS weights come through the CDN redirect', async () => {
    const res = await downloadModelFiles({ id: 'karpathy/stories260K', revision: 'v1.0' }, opts());
    expect(res.files.map((f) => f.path)).toEqual([
      'config.json',
      'generation_config.json',
      'model.safetensors',
      'special_tokens_map.json',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    expect(readFileSync(join(home, 'hub', 'models--karpathy--stories260K', 'refs', 'v1.0'), 'utf8')).toBe(SHA_MAIN);
    const sha256 = createHash('sha256')
      .update(readFileSync(join(STORIES, 'model.safetensors')))
      .digest('hex');
    expect(server.requests.some((r) => r.path === `/cdn/${sha256}`)).toBe(true);
    const e = await hubErr(downloadModelFiles({ id: 'org/bin-only' }, opts()));
    expect(e.message).toBe(`model "org/bin-only" at revision "main" (${SHA_MAIN.slice(0, 12)}) has no *.safetensors weights`);
    expect(e.details.hint).toContain('safetensors');
  });

  it('a download whose bytes do not match the listed hash is rejected and leaves nothing in the cache', async () => {
    const e = await hubErr(downloadRepoFiles({ repo: { type: 'model', id: 'org/flaky' }, include: ['*.safetensors'] }, opts()));
    expect(e.message).toMatch(
      /download of model "org\/flaky" file "model\.safetensors"@a1b2c3d4\w+ is corrupt: got 1044992 bytes with sha256 [0-9a-f]{64}, expected 1044992 bytes with [0-9a-f]{64}/,
    );
    const repoDir = join(home, 'hub', 'models--org--flaky');
    expect(readdirSync(join(repoDir, 'blobs'))).toEqual([]);
    expect(existsSync(join(repoDir, 'snapshots', SHA_MAIN, 'model.safetensors'))).toBe(false);
    expect(existsSync(join(repoDir, 'refs', 'main'))).toBe(false);
  });

  it('an AbortSignal cancels a download mid-file with E_CANCELLED and leaves no partial blob', async () => {
    const ctl = new AbortController();
    const e = await hubErr(
      downloadRepoFiles(
        { repo: { type: 'model', id: 'karpathy/stories260K' }, include: ['model.safetensors'], onProgress: (p) => p.fileBytes > 0 && ctl.abort() },
        opts({ signal: ctl.signal }),
      ),
    );
    expect(e.code).toBe('E_CANCELLED');
    expect(e.message).toContain('"karpathy/stories260K"');
    const blobs = join(home, 'hub', 'models--karpathy--stories260K', 'blobs');
    expect(existsSync(blobs) ? readdirSync(blobs) : []).toEqual([]);
  });

  it('honours HF_HUB_CACHE over HF_HOME', async () => {
    const cache = join(home, 'elsewhere');
    const res = await downloadRepoFiles({ repo: { type: 'model', id: 'org/two-revs' }, include: ['config.json'] }, opts({ env: { HF_HUB_CACHE: cache } }));
    expect(res.snapshotDir).toBe(join(cache, 'models--org--two-revs', 'snapshots', SHA_NEW));
    expect(existsSync(join(home, 'hub'))).toBe(false);
  });
});
