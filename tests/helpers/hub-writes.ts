// The write side of the test hub server: create repos, preupload (LFS for weight files), the LFS batch API with
// basic PUT uploads, commits as NDJSON (file / lfsFile / deletedFile) and branches, answering 401 without a
// write token and 404 for unknown repos as the hub does. Each commit gets a new sha and keeps its summary.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FakeRepo, FileSource } from './hub-server.ts';

export interface CommitRecord {
  repo: string;
  revision: string;
  sha: string;
  summary: string;
  files: string[];
}

export interface WriteState {
  repos: Record<string, FakeRepo>;
  blobs: Map<string, Buffer>;
  writeTokens: string[];
  commits: CommitRecord[];
}

const LFS = /\.(safetensors|gguf|onnx|bin|parquet)$/;

function json(res: ServerResponse, status: number, body: unknown, code?: string): void {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': String(data.length),
    ...(code ? { 'X-Error-Code': code, 'X-Error-Message': String((body as { error?: string }).error ?? '') } : {}),
  });
  res.end(data);
}

async function body(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Handles a POST / PUT; returns false when the route is not a write route. */
export async function handleWrite(req: IncomingMessage, res: ServerResponse, base: string, s: WriteState): Promise<boolean> {
  const path = (req.url ?? '/').split('?')[0];
  const token = req.headers.authorization?.startsWith('Bearer ') ? req.headers.authorization.slice(7) : undefined;
  const denied = () => json(res, 401, { error: 'Invalid credentials in Authorization header' }, 'Unauthorized');
  if (req.method === 'PUT' && path.startsWith('/lfs-upload/')) {
    const oid = path.slice(12);
    const bytes = await body(req);
    if (createHash('sha256').update(bytes).digest('hex') !== oid) return (json(res, 400, { error: 'sha256 mismatch' }, 'BadRequest'), true);
    s.blobs.set(oid, bytes);
    res.writeHead(200).end();
    return true;
  }
  if (req.method !== 'POST') return false;
  if (path === '/api/repos/create') {
    const b = JSON.parse((await body(req)).toString('utf8')) as { name: string; organization?: string; type?: string; visibility?: string; private?: boolean };
    if (!token || !s.writeTokens.includes(token)) return (denied(), true);
    const id = `${b.organization}/${b.name}`;
    if (s.repos[id]) return (json(res, 409, { error: 'You already created this model repo', url: `${base}/${id}` }, 'RepoExists'), true);
    const sha = createHash('sha1').update(`init ${id}`).digest('hex');
    s.repos[id] = {
      type: 'model',
      revisions: { main: sha },
      commits: { [sha]: {} },
      private: b.visibility === 'private' || b.private === true,
      tokens: s.writeTokens,
    };
    return (json(res, 200, { url: `${base}/${id}`, name: id }), true);
  }
  const m = /^\/(?:api\/models\/)?(.+?)(?:\.git\/info\/lfs\/objects\/batch|\/(preupload|commit|branch)\/(.+))$/.exec(path);
  if (!m) return false;
  const [, id, action, rev] = m;
  const repo = s.repos[id];
  if (!token || !s.writeTokens.includes(token)) return (denied(), true);
  if (!repo) return (json(res, 404, { error: 'Repository not found' }, 'RepoNotFound'), true);
  const b = await body(req);
  if (!action) {
    const q = JSON.parse(b.toString('utf8')) as { objects: { oid: string; size: number }[] };
    return (
      json(res, 200, {
        transfer: 'basic',
        objects: q.objects.map((o) => ({
          ...o,
          authenticated: true,
          ...(s.blobs.has(o.oid) ? {} : { actions: { upload: { href: `${base}/lfs-upload/${o.oid}` } } }),
        })),
      }),
      true
    );
  }
  const revision = decodeURIComponent(rev);
  if (action === 'branch') {
    if (repo.revisions[revision]) return (json(res, 409, { error: 'Reference already exists' }, 'BranchExists'), true);
    repo.revisions[revision] = repo.revisions.main;
    return (json(res, 200, {}), true);
  }
  if (action === 'preupload') {
    const q = JSON.parse(b.toString('utf8')) as { files: { path: string }[] };
    return (json(res, 200, { files: q.files.map((f) => ({ path: f.path, uploadMode: LFS.test(f.path) ? 'lfs' : 'regular', shouldIgnore: false })) }), true);
  }
  const parent = repo.revisions[revision];
  if (!parent) return (json(res, 404, { error: `Invalid rev id: ${revision}` }, 'RevisionNotFound'), true);
  const files: Record<string, FileSource> = { ...(repo.commits?.[parent] ?? repo.files ?? {}) };
  let summary = '';
  const touched: string[] = [];
  for (const line of b.toString('utf8').split('\n').filter(Boolean)) {
    const { key, value } = JSON.parse(line) as { key: string; value: Record<string, string> };
    if (key === 'header') summary = value.summary ?? '';
    else if (key === 'file') (files[value.path] = Buffer.from(value.content, 'base64')), touched.push(value.path);
    else if (key === 'deletedFile') delete files[value.path];
    else if (key === 'lfsFile') {
      const blob = s.blobs.get(value.oid);
      if (!blob) return (json(res, 400, { error: `LFS object ${value.oid} was never uploaded` }, 'BadRequest'), true);
      files[value.path] = blob;
      touched.push(value.path);
    }
  }
  const sha = createHash('sha1')
    .update(`${parent} ${summary} ${touched.join(',')} ${s.commits.length}`)
    .digest('hex');
  repo.commits = { ...(repo.commits ?? {}), [sha]: files };
  repo.revisions[revision] = sha;
  s.commits.push({ repo: id, revision, sha, summary, files: touched.sort() });
  return (json(res, 200, { commitOid: sha, commitUrl: `${base}/${id}/commit/${sha}` }), true);
}
