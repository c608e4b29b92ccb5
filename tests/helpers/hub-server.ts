// A local HTTP server that speaks enough of the Hugging Face hub API for the real @huggingface/hub client:
// repo info with sha, tree listings (oid, size, lfs), resolve/<rev>/<path> downloads with range requests, LFS
// redirects, private / gated repos (401 / 403), unknown repos / revisions / files (404 + X-Error-Code), and a
// request log so tests can assert that a build made no request. Never touches the network.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative, sep } from 'node:path';
import { handleWrite, type CommitRecord, type WriteState } from './hub-writes.ts';

/** One file of a repo: an absolute path on disk (read when served) or the bytes themselves. */
export type FileSource = string | Buffer;

export interface FakeRepo {
  type: 'model' | 'dataset';
  /** Revision name (branch / tag, may contain "/", e.g. "refs/convert/parquet") → commit sha (40 hex). */
  revisions: Record<string, string>;
  /** Files of every commit that `commits` does not list. */
  files?: Record<string, FileSource>;
  /** Files per commit sha, for repos whose revisions differ. */
  commits?: Record<string, Record<string, FileSource>>;
  /** Only these bearer tokens may read the repo; others get 401 RepoNotFound like the hub. */
  private?: boolean;
  /** Info and tree are public; downloads need one of `tokens` (401 without a token, 403 GatedRepo with another). */
  gated?: boolean;
  tokens?: string[];
  /** Serve LFS files through a 302 redirect to /cdn/<sha256> as the hub does (default true). */
  redirectLfs?: boolean;
  /** Paths whose downloads arrive with one byte flipped (the listing keeps the true oid): for integrity tests. */
  corrupt?: string[];
}

export interface LoggedRequest {
  method: string;
  path: string; // URL path as sent (not decoded)
  authorization?: string;
  range?: string;
}

export interface HubServer {
  url: string;
  requests: LoggedRequest[];
  clearLog(): void;
  close(): Promise<void>;
  /** Git blob sha1 of bytes (the oid the tree listing reports for non-LFS files). */
  gitOid(bytes: Buffer): string;
  /** Commits made through the write API (create repo, preupload, LFS batch, commit), oldest first. */
  commits: CommitRecord[];
  /** The repos, including those created through the API. */
  repos: Record<string, FakeRepo>;
}

interface ServedFile {
  path: string;
  bytes: Buffer;
  oid: string; // git sha1 of the stored object (pointer for LFS)
  lfs?: { oid: string; size: number; pointerSize: number };
}

const LFS_EXT = /\.(safetensors|parquet|bin|arrow|gguf|pt|onnx)$/;

/** Maps every file under `dir` to its absolute path, keys relative to `dir` with "/" separators (prefix optional). */
export function filesFromDir(dir: string, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[prefix + relative(dir, p).split(sep).join('/')] = p;
    }
  };
  walk(dir);
  return out;
}

function gitOid(bytes: Buffer): string {
  return createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
}

function serveFile(path: string, src: FileSource): ServedFile {
  const bytes = typeof src === 'string' ? readFileSync(src) : src;
  if (LFS_EXT.test(path) || bytes.length > 1_000_000) {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const pointer = Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256}\nsize ${bytes.length}\n`);
    return { path, bytes, oid: gitOid(pointer), lfs: { oid: sha256, size: bytes.length, pointerSize: pointer.length } };
  }
  return { path, bytes, oid: gitOid(bytes) };
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(data.length), ...headers });
  res.end(data);
}

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { error: message }, { 'X-Error-Code': code, 'X-Error-Message': message });
}

/** Starts the server on 127.0.0.1 with a free port. */
export async function startHubServer(repos: Record<string, FakeRepo>, opts: { writeTokens?: string[] } = {}): Promise<HubServer> {
  const requests: LoggedRequest[] = [];
  const fileCache = new Map<string, Map<string, ServedFile>>(); // `${repoId}@${sha}` -> files
  const blobs = new Map<string, Buffer>(); // sha256 -> bytes, for the CDN route

  const filesAt = (id: string, repo: FakeRepo, sha: string): Map<string, ServedFile> => {
    const key = `${id}@${sha}`;
    let m = fileCache.get(key);
    if (!m) {
      m = new Map();
      const srcs = repo.commits?.[sha] ?? repo.files ?? {};
      for (const [p, src] of Object.entries(srcs)) {
        const f = serveFile(p, src);
        m.set(p, f);
        if (f.lfs) blobs.set(f.lfs.oid, f.bytes);
      }
      fileCache.set(key, m);
    }
    return m;
  };

  /** Splits "<rev>/<rest>" where rev may be URL-encoded or a raw name containing "/". */
  const splitRevision = (repo: FakeRepo, rest: string): { rev: string; sha?: string; path: string } => {
    const names = Object.keys(repo.revisions).sort((a, b) => b.length - a.length);
    for (const n of names) {
      if (rest === n || rest.startsWith(`${n}/`)) return { rev: n, sha: repo.revisions[n], path: rest.slice(n.length + 1) };
    }
    const [first, ...others] = rest.split('/');
    const rev = decodeURIComponent(first ?? '');
    const shas = new Set(Object.values(repo.revisions));
    const sha = repo.revisions[rev] ?? (shas.has(rev) ? rev : undefined);
    return { rev, sha, path: others.join('/') };
  };

  const authorized = (repo: FakeRepo, auth: string | undefined) => {
    const token = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
    return token !== undefined && (repo.tokens ?? []).includes(token);
  };

  const handle = (req: IncomingMessage, res: ServerResponse, base: string) => {
    const rawPath = (req.url ?? '/').split('?')[0];
    const auth = req.headers.authorization;
    requests.push({
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      ...(auth ? { authorization: auth } : {}),
      ...(req.headers.range ? { range: String(req.headers.range) } : {}),
    });

    if (rawPath.startsWith('/cdn/')) {
      const bytes = blobs.get(rawPath.slice(5));
      if (!bytes) return sendError(res, 404, 'EntryNotFound', 'Entry not found');
      return sendBytes(req, res, bytes, { ETag: `"${rawPath.slice(5)}"` });
    }

    let kind: 'info' | 'tree' | 'resolve';
    let type: 'model' | 'dataset';
    let rest: string;
    if (rawPath.startsWith('/api/models/') || rawPath.startsWith('/api/datasets/')) {
      type = rawPath.startsWith('/api/models/') ? 'model' : 'dataset';
      rest = rawPath.slice(type === 'model' ? 12 : 14);
      kind = 'info';
    } else if (rawPath.startsWith('/datasets/')) {
      type = 'dataset';
      rest = rawPath.slice(10);
      kind = 'resolve';
    } else {
      type = 'model';
      rest = rawPath.slice(1);
      kind = 'resolve';
    }
    const entry = Object.entries(repos)
      .filter(([id, r]) => r.type === type && rest.startsWith(`${id}/`))
      .sort((a, b) => b[0].length - a[0].length)[0];
    if (!entry) {
      return auth
        ? sendError(res, 404, 'RepoNotFound', 'Repository not found')
        : sendError(res, 401, 'RepoNotFound', 'Repository not found. Invalid credentials in Authorization header');
    }
    const [id, repo] = entry;
    rest = rest.slice(id.length + 1);
    if (kind === 'info') {
      if (rest.startsWith('revision/')) rest = rest.slice(9);
      else if (rest.startsWith('tree/')) {
        kind = 'tree';
        rest = rest.slice(5);
      } else return sendError(res, 404, 'NotFound', `unknown route ${rawPath}`);
    } else if (rest.startsWith('resolve/')) rest = rest.slice(8);
    else return sendError(res, 404, 'NotFound', `unknown route ${rawPath}`);

    if (repo.private && !authorized(repo, auth)) return sendError(res, 401, 'RepoNotFound', 'Repository not found');
    const { rev, sha, path } = splitRevision(repo, rest);
    const revName = rev === 'HEAD' ? 'main' : rev;
    const commit = sha ?? repo.revisions[revName];
    if (!commit) return sendError(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
    const files = filesAt(id, repo, commit);

    if (kind === 'info') {
      return sendJson(res, 200, {
        _id: createHash('md5').update(id).digest('hex').slice(0, 24),
        id,
        sha: commit,
        private: !!repo.private,
        gated: repo.gated ? 'auto' : false,
        disabled: false,
        downloads: 0,
        likes: 0,
        lastModified: '2024-01-01T00:00:00.000Z',
        tags: [],
        siblings: [...files.keys()].map((rfilename) => ({ rfilename })),
      });
    }
    if (kind === 'tree') {
      const url = new URL(req.url ?? '/', base);
      const recursive = url.searchParams.get('recursive') === 'true';
      const dir = path.replace(/\/+$/, '');
      const prefix = dir ? `${dir}/` : '';
      const out: unknown[] = [];
      const dirs = new Set<string>();
      for (const f of [...files.values()].sort((a, b) => (a.path < b.path ? -1 : 1))) {
        if (!f.path.startsWith(prefix)) continue;
        const sub = f.path.slice(prefix.length).split('/');
        for (let i = 1; i < sub.length && (recursive || i === 1); i++) dirs.add(prefix + sub.slice(0, i).join('/'));
        if (!recursive && sub.length > 1) continue;
        out.push({ type: 'file', oid: f.oid, size: f.lfs ? f.lfs.size : f.bytes.length, path: f.path, ...(f.lfs ? { lfs: f.lfs } : {}) });
      }
      if (dir && out.length === 0 && dirs.size === 0) return sendError(res, 404, 'EntryNotFound', `${dir} does not exist on "${rev}"`);
      const dirEntries = [...dirs].sort().map((p) => ({ type: 'directory', oid: gitOid(Buffer.from(p)), size: 0, path: p }));
      return sendJson(res, 200, [...dirEntries, ...out]);
    }
    // resolve
    if (repo.gated && !authorized(repo, auth)) {
      return auth
        ? sendError(res, 403, 'GatedRepo', `Access to ${type} ${id} is restricted and you are not in the authorized list.`)
        : sendError(res, 401, 'GatedRepo', `Access to ${type} ${id} is restricted. You must have access to it and be authenticated to access it.`);
    }
    const file = files.get(decodeURIComponent(path));
    if (!file) return sendError(res, 404, 'EntryNotFound', 'Entry not found');
    const headers = { 'X-Repo-Commit': commit, ETag: `"${file.lfs ? file.lfs.oid : file.oid}"` };
    if (repo.corrupt?.includes(file.path)) {
      const bad = Buffer.from(file.bytes);
      if (bad.length > 0) bad[bad.length - 1] ^= 0xff;
      return sendBytes(req, res, bad, headers);
    }
    if (file.lfs && repo.redirectLfs !== false) {
      res.writeHead(302, {
        Location: `${base}/cdn/${file.lfs.oid}`,
        'X-Repo-Commit': commit,
        'X-Linked-ETag': `"${file.lfs.oid}"`,
        'X-Linked-Size': String(file.lfs.size),
        ETag: `"${file.oid}"`,
        'Content-Length': '0',
      });
      return res.end();
    }
    return sendBytes(req, res, file.bytes, headers);
  };

  const writes: WriteState = { repos, blobs, writeTokens: opts.writeTokens ?? ['hf_write_token'], commits: [] };
  const server: Server = createServer((req, res) => {
    try {
      if (req.method === 'POST' || req.method === 'PUT') {
        requests.push({ method: req.method, path: req.url ?? '/', ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
        handleWrite(req, res, base, writes).then(
          (handled) => void (handled || sendError(res, 404, 'NotFound', `unknown route ${req.url}`)),
          (e) => sendError(res, 500, 'Internal', String((e as Error).message)),
        );
        return;
      }
      handle(req, res, base);
    } catch (e) {
      sendError(res, 500, 'Internal', String((e as Error).message));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    requests,
    clearLog: () => void requests.splice(0),
    gitOid,
    commits: writes.commits,
    repos,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}

function sendBytes(req: IncomingMessage, res: ServerResponse, bytes: Buffer, headers: Record<string, string>): void {
  const common = { 'Content-Type': 'application/octet-stream', 'Accept-Ranges': 'bytes', ...headers };
  const m = /^bytes=(\d+)-(\d*)$/.exec(String(req.headers.range ?? ''));
  if (m) {
    const start = Number(m[1]);
    const end = Math.min(m[2] ? Number(m[2]) : bytes.length - 1, bytes.length - 1);
    if (start >= bytes.length && bytes.length > 0) {
      res.writeHead(416, { ...common, 'Content-Range': `bytes */${bytes.length}` });
      return void res.end();
    }
    const part = bytes.length === 0 ? bytes : bytes.subarray(start, end + 1);
    res.writeHead(206, { ...common, 'Content-Range': `bytes ${start}-${Math.max(start, end)}/${bytes.length}`, 'Content-Length': String(part.length) });
    return void res.end(req.method === 'HEAD' ? undefined : part);
  }
  res.writeHead(200, { ...common, 'Content-Length': String(bytes.length) });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}
