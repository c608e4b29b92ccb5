// Downloads the files of a hub repo that match the caller's patterns into the standard HF cache layout
// (blobs/<etag>, snapshots/<sha>/<path> symlinks, refs/<revision>), atomically and with byte progress; serves
// from the cache without any request when the revision's sha and every selected file are already there.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { downloadFile } from '@huggingface/hub';
import { PeftError } from '../errors.ts';
import { blobPath, isCommitSha, readRef, repoCacheDir, snapshotDir, writeRef, type RepoRef } from './cache-layout.ts';
import { FNMATCH_GLOB, globToRegExp, matchesAny } from '../util/glob.ts';
import { hubError, notCachedError, recordingFetch, repoLabel, type FailureNote } from './hub-errors.ts';
import { resolveHubOptions, type HubOptions, type ResolvedHubOptions } from './hub-options.ts';
import { fetchListing, readCachedListing, type RepoFileEntry } from './repo-listing.ts';
import { fetchRevisionSha } from './resolve-revision.ts';

export interface DownloadProgress {
  repo: string;
  /** The file being downloaded. */
  file: string;
  fileBytes: number;
  fileTotal: number;
  /** Over all files this call downloads (cached files are not counted). */
  bytesDone: number;
  bytesTotal: number;
  filesDone: number;
  filesTotal: number;
}

export interface DownloadRequest {
  repo: RepoRef;
  /** Branch, tag or full commit sha; default "main". */
  revision?: string;
  /** Patterns (fnmatch-style, see glob.ts) or exact paths of the files wanted, e.g. ["*.safetensors", "config.json"]. */
  include: string[];
  exclude?: string[];
  /** Fail when an include pattern matches no file (default true). */
  requireAll?: boolean;
  onProgress?: (p: DownloadProgress) => void;
}

export interface DownloadedFile {
  /** Path inside the repo. */
  path: string;
  /** Absolute path in the snapshot folder (a symlink to the blob). */
  localPath: string;
  size: number;
}

export interface DownloadResult {
  repo: RepoRef;
  revision: string;
  sha: string;
  snapshotDir: string;
  files: DownloadedFile[];
  /** True when nothing was requested from the hub. */
  fromCache: boolean;
  bytesDownloaded: number;
}

/** The files of a listing that match include and not exclude; reports patterns that match nothing. */
export function selectFiles(listing: RepoFileEntry[], include: string[], exclude: string[] = []): { selected: RepoFileEntry[]; unmatched: string[] } {
  const inc = include.map((p) => globToRegExp(p, FNMATCH_GLOB));
  const exc = exclude.map((p) => globToRegExp(p, FNMATCH_GLOB));
  const selected = listing.filter((f) => matchesAny(f.path, inc) && !matchesAny(f.path, exc));
  const unmatched = include.filter((_p, i) => !selected.some((f) => inc[i].test(f.path)));
  return { selected, unmatched };
}

function contentSize(e: RepoFileEntry): number {
  return e.lfs ? e.lfs.size : e.size;
}

function presentInSnapshot(snap: string, path: string): boolean {
  try {
    return statSync(join(snap, path)).isFile();
  } catch {
    return false;
  }
}

function toResult(repo: RepoRef, revision: string, sha: string, snap: string, selected: RepoFileEntry[], fromCache: boolean, bytes: number): DownloadResult {
  return {
    repo,
    revision,
    sha,
    snapshotDir: snap,
    files: selected.map((e) => ({ path: e.path, localPath: join(snap, e.path), size: contentSize(e) })),
    fromCache,
    bytesDownloaded: bytes,
  };
}

function checkSafePath(repo: RepoRef, path: string): void {
  if (path.startsWith('/') || path.split('/').some((s) => s === '..' || s === '') || path.includes('\\')) {
    throw new PeftError('E_HUB', `${repoLabel(repo)} lists an unsafe file path "${path}"; refusing to write it into the cache`, { repo: repo.id, path });
  }
}

/** Points snapshots/<sha>/<path> at the blob with a relative symlink, created under a temp name and renamed. */
function linkIntoSnapshot(snap: string, path: string, blob: string): void {
  const link = join(snap, path);
  mkdirSync(dirname(link), { recursive: true });
  const tmp = `${link}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  symlinkSync(relative(dirname(link), blob), tmp);
  renameSync(tmp, link);
}

/** Streams one file into blobs/<etag> via a temp file, verifying its size and its git/LFS hash. */
async function fetchBlob(
  repo: RepoRef,
  sha: string,
  revision: string,
  entry: RepoFileEntry,
  blob: string,
  opts: ResolvedHubOptions,
  onBytes: (n: number) => void,
): Promise<void> {
  const note: FailureNote = {};
  const size = contentSize(entry);
  const tmp = `${blob}.incomplete-${process.pid}-${randomBytes(4).toString('hex')}`;
  mkdirSync(dirname(blob), { recursive: true });
  const hash = entry.lfs ? createHash('sha256') : createHash('sha1').update(`blob ${size}\0`);
  let written = 0;
  try {
    const body = await downloadFile({
      repo: { type: repo.type, name: repo.id },
      path: entry.path,
      revision: sha,
      hubUrl: opts.hubUrl,
      accessToken: opts.token,
      fetch: recordingFetch(opts.fetch, note, opts.signal),
    });
    if (!body) {
      note.errorCode = 'EntryNotFound';
      throw Object.assign(new Error('file not found'), { statusCode: 404 });
    }
    const fh = await open(tmp, 'w');
    try {
      const reader = body.stream().getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        hash.update(value);
        await fh.write(value);
        written += value.byteLength;
        onBytes(value.byteLength);
        if (opts.signal?.aborted) {
          await reader.cancel().catch(() => undefined);
          throw Object.assign(new Error('aborted'), { name: 'AbortError' });
        }
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    rmSync(tmp, { force: true });
    throw hubError(typeof err === 'string' ? new Error(err) : err, { repo, revision, path: entry.path, opts, note });
  }
  const digest = hash.digest('hex');
  const expected = entry.lfs ? entry.lfs.oid : entry.oid;
  if (written !== size || digest !== expected) {
    rmSync(tmp, { force: true });
    throw new PeftError(
      'E_HUB',
      `download of ${repoLabel(repo)} file "${entry.path}"@${sha} is corrupt: got ${written} bytes with ${entry.lfs ? 'sha256' : 'git sha1'} ${digest}, expected ${size} bytes with ${expected}`,
      {
        repo: repo.id,
        revision,
        path: entry.path,
        hint: 'retry the build; if it persists, clear this repo from the cache',
      },
    );
  }
  renameSync(tmp, blob);
}

/** Downloads (or finds in the cache) the files of `req.repo`@`req.revision` matching `req.include`. */
export async function downloadRepoFiles(req: DownloadRequest, options: HubOptions = {}): Promise<DownloadResult> {
  const opts = resolveHubOptions(options);
  const { repo } = req;
  const revision = req.revision ?? 'main';
  const requireAll = req.requireAll ?? true;
  const repoDir = repoCacheDir(opts.cacheDir, repo);
  const useRefs = !(opts.refresh && !opts.offline && !isCommitSha(revision));
  let sha: string | undefined = isCommitSha(revision) ? revision : useRefs ? readRef(repoDir, revision) : undefined;

  // 1. Everything already cached: answer without a request.
  const cachedListing = sha ? readCachedListing(repo, sha, opts) : undefined;
  if (sha && cachedListing) {
    const { selected, unmatched } = selectFiles(cachedListing, req.include, req.exclude);
    const snap = snapshotDir(repoDir, sha);
    const missing = selected.filter((e) => !presentInSnapshot(snap, e.path));
    if (missing.length === 0 && (!requireAll || unmatched.length === 0)) return toResult(repo, revision, sha, snap, selected, true, 0);
    if (opts.offline) {
      if (missing.length === 0) throw noMatchError(repo, revision, sha, unmatched, cachedListing);
      throw notCachedError(
        repo,
        revision,
        opts,
        missing.map((m) => m.path),
      );
    }
  }
  if (opts.offline) throw notCachedError(repo, revision, opts, req.include);

  // 2. Ask the hub: the sha (unless pinned), the listing of that commit, then the missing blobs.
  sha ??= await fetchRevisionSha(repo, revision, opts);
  const listing = readCachedListing(repo, sha, opts) ?? (await fetchListing(repo, revision, sha, opts));
  const { selected, unmatched } = selectFiles(listing, req.include, req.exclude);
  if (requireAll && unmatched.length > 0) throw noMatchError(repo, revision, sha, unmatched, listing);
  selected.forEach((e) => checkSafePath(repo, e.path));
  const snap = snapshotDir(repoDir, sha);
  mkdirSync(snap, { recursive: true });
  const todo = selected.filter((e) => !presentInSnapshot(snap, e.path));
  const toFetch = todo.filter((e) => !existsSync(blobPath(repoDir, e.lfs?.oid ?? e.oid)));
  const bytesTotal = toFetch.reduce((s, e) => s + contentSize(e), 0);
  let bytesDone = 0;
  let filesDone = 0;
  for (const e of todo) {
    const blob = blobPath(repoDir, e.lfs?.oid ?? e.oid);
    if (!existsSync(blob)) {
      let fileBytes = 0;
      const fileTotal = contentSize(e);
      req.onProgress?.({ repo: repo.id, file: e.path, fileBytes, fileTotal, bytesDone, bytesTotal, filesDone, filesTotal: toFetch.length });
      await fetchBlob(repo, sha, revision, e, blob, opts, (n) => {
        fileBytes += n;
        bytesDone += n;
        req.onProgress?.({ repo: repo.id, file: e.path, fileBytes, fileTotal, bytesDone, bytesTotal, filesDone, filesTotal: toFetch.length });
      });
      filesDone++;
    }
    linkIntoSnapshot(snap, e.path, blob);
  }
  writeRef(repoDir, revision, sha);
  return toResult(repo, revision, sha, snap, selected, false, bytesDone);
}

function noMatchError(repo: RepoRef, revision: string, sha: string, unmatched: string[], listing: RepoFileEntry[]): PeftError {
  const sample = listing.slice(0, 12).map((f) => f.path);
  return new PeftError(
    'E_HUB',
    `${repoLabel(repo)} at revision "${revision}" (${sha.slice(0, 12)}) has no file matching ${unmatched.map((p) => `"${p}"`).join(', ')}; it has ${listing.length} files: ${sample.join(', ')}${listing.length > sample.length ? ', ...' : ''}`,
    { repo: repo.id, revision, sha, unmatched, hint: 'fix the file pattern, or pick the revision that has these files' },
  );
}
