// Paths and refs of the standard Hugging Face hub cache (the layout huggingface_hub and transformers use):
// $HF_HUB_CACHE/<models|datasets>--org--name/{blobs/<etag>, snapshots/<sha>/<path> -> ../../blobs/<etag>, refs/<revision>}.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

export type RepoType = 'model' | 'dataset';

/** A hub repository: `id` is `org/name` (or a bare `name` for legacy datasets such as `wikitext`). */
export interface RepoRef {
  type: RepoType;
  id: string;
}

/** The cache root, with the precedence huggingface_hub uses: HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME/hub, XDG_CACHE_HOME/huggingface/hub, ~/.cache/huggingface/hub. */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HUGGINGFACE_HUB_CACHE) return env.HUGGINGFACE_HUB_CACHE;
  if (env.HF_HOME) return join(env.HF_HOME, 'hub');
  return join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'huggingface', 'hub');
}

/** `models--org--name` / `datasets--org--name`, as huggingface_hub names repo folders. */
export function repoFolderName(repo: RepoRef): string {
  return [`${repo.type}s`, ...repo.id.split('/')].join('--');
}

export function repoCacheDir(cacheDir: string, repo: RepoRef): string {
  return join(cacheDir, repoFolderName(repo));
}

const SHA_RE = /^[0-9a-f]{40}$/;

/** A full 40-hex-digit git commit sha. */
export function isCommitSha(revision: string): boolean {
  return SHA_RE.test(revision);
}

export function snapshotDir(repoDir: string, sha: string): string {
  return join(repoDir, 'snapshots', sha);
}

export function blobPath(repoDir: string, etag: string): string {
  return join(repoDir, 'blobs', etag);
}

/** peftmake's record of a commit's file listing (commits are immutable, so it never goes stale). */
export function treeListingPath(repoDir: string, sha: string): string {
  return join(repoDir, '.peftmake', 'trees', `${sha}.json`);
}

/** The commit sha a revision name points to in the cache, if recorded (refs/<revision>). */
export function readRef(repoDir: string, revision: string): string | undefined {
  const p = join(repoDir, 'refs', revision);
  if (!existsSync(p)) return undefined;
  const sha = readFileSync(p, 'utf8').trim();
  return isCommitSha(sha) ? sha : undefined;
}

/** Writes a file atomically: temp file in the same directory, then rename. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** Records refs/<revision> = sha (huggingface_hub writes the sha without a newline). */
export function writeRef(repoDir: string, revision: string, sha: string): void {
  if (revision === sha) return;
  writeFileAtomic(join(repoDir, 'refs', revision), sha);
}
