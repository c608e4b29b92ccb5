// The file listing of one commit of a hub repo (paths, sizes, git oids, LFS sha256), fetched with listFiles and
// kept in the cache beside the snapshot so later builds can select files by pattern without a request.
import { existsSync, readFileSync } from 'node:fs';
import { listFiles } from '@huggingface/hub';
import { PeftError } from '../errors.ts';
import { repoCacheDir, treeListingPath, writeFileAtomic, type RepoRef } from './cache-layout.ts';
import { hubError, recordingFetch, type FailureNote } from './hub-errors.ts';
import type { ResolvedHubOptions } from './hub-options.ts';

export interface RepoFileEntry {
  path: string;
  size: number;
  /** git blob sha1 of the stored file (for LFS files: of the pointer). */
  oid: string;
  /** LFS pointer: sha256 and size of the real content. */
  lfs?: { oid: string; size: number };
}

/** The cached listing of commit `sha`, if any. */
export function readCachedListing(repo: RepoRef, sha: string, opts: ResolvedHubOptions): RepoFileEntry[] | undefined {
  const p = treeListingPath(repoCacheDir(opts.cacheDir, repo), sha);
  if (!existsSync(p)) return undefined;
  try {
    const data = JSON.parse(readFileSync(p, 'utf8')) as { files?: RepoFileEntry[] };
    return Array.isArray(data.files) ? data.files : undefined;
  } catch {
    return undefined; // a damaged listing is refetched
  }
}

/** Lists every file of commit `sha` from the hub and records the listing in the cache. */
export async function fetchListing(repo: RepoRef, revision: string, sha: string, opts: ResolvedHubOptions): Promise<RepoFileEntry[]> {
  const note: FailureNote = {};
  const files: RepoFileEntry[] = [];
  try {
    for await (const e of listFiles({
      repo: { type: repo.type, name: repo.id },
      revision: sha,
      recursive: true,
      hubUrl: opts.hubUrl,
      accessToken: opts.token,
      fetch: recordingFetch(opts.fetch, note, opts.signal),
    })) {
      if (e.type !== 'file') continue;
      if (typeof e.path !== 'string' || typeof e.size !== 'number' || typeof e.oid !== 'string') {
        throw new PeftError('E_HUB', `the hub's file listing of ${repo.type} "${repo.id}"@${sha} has a malformed entry: ${JSON.stringify(e).slice(0, 200)}`, {
          repo: repo.id,
          revision,
        });
      }
      files.push({ path: e.path, size: e.size, oid: e.oid, ...(e.lfs ? { lfs: { oid: e.lfs.oid, size: e.lfs.size } } : {}) });
    }
  } catch (err) {
    throw hubError(err, { repo, revision, opts, note });
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  writeFileAtomic(treeListingPath(repoCacheDir(opts.cacheDir, repo), sha), JSON.stringify({ repo: repo.id, type: repo.type, sha, files }, null, 1));
  return files;
}

/** The listing of `sha`, from the cache when recorded (unless offline forbids fetching and it is absent). */
export async function repoListing(
  repo: RepoRef,
  revision: string,
  sha: string,
  opts: ResolvedHubOptions,
): Promise<{ files: RepoFileEntry[]; fromCache: boolean } | undefined> {
  const cached = readCachedListing(repo, sha, opts);
  if (cached) return { files: cached, fromCache: true };
  if (opts.offline) return undefined;
  return { files: await fetchListing(repo, revision, sha, opts), fromCache: false };
}
