// Resolves a repo revision (branch, tag or commit sha) to its commit sha: from the cache's refs/ when it is
// recorded there (no network), otherwise by asking the hub (modelInfo / datasetInfo with the `sha` field).
import { existsSync } from 'node:fs';
import { datasetInfo, modelInfo } from '@huggingface/hub';
import { isCommitSha, readRef, repoCacheDir, snapshotDir, type RepoRef } from './cache-layout.ts';
import { hubError, notCachedError, recordingFetch, type FailureNote } from './hub-errors.ts';
import { resolveHubOptions, type HubOptions, type ResolvedHubOptions } from './hub-options.ts';

export interface ResolvedRevision {
  repo: RepoRef;
  revision: string;
  sha: string;
  /** True when the answer came from the cache without a request. */
  fromCache: boolean;
}

/** The sha the cache records for `revision` (a full sha with a snapshot folder counts as recorded). */
export function cachedRevision(repo: RepoRef, revision: string, opts: ResolvedHubOptions): string | undefined {
  const dir = repoCacheDir(opts.cacheDir, repo);
  const sha = isCommitSha(revision) ? revision : readRef(dir, revision);
  return sha && existsSync(snapshotDir(dir, sha)) ? sha : undefined;
}

/** Asks the hub for the commit sha of `revision`. */
export async function fetchRevisionSha(repo: RepoRef, revision: string, opts: ResolvedHubOptions): Promise<string> {
  const note: FailureNote = {};
  const params = {
    name: repo.id,
    revision,
    hubUrl: opts.hubUrl,
    accessToken: opts.token,
    fetch: recordingFetch(opts.fetch, note, opts.signal),
    additionalFields: ['sha'] as ['sha'],
  };
  try {
    const info = repo.type === 'model' ? await modelInfo(params) : await datasetInfo(params);
    const sha = (info as { sha?: string }).sha;
    if (!sha || !isCommitSha(sha)) throw new Error(`the hub's answer has no commit sha (got ${JSON.stringify(sha)})`);
    return sha;
  } catch (err) {
    throw hubError(err, { repo, revision, opts, note });
  }
}

/** Resolves `revision` (default "main") to a commit sha, offline when the cache already knows it. */
export async function resolveRevision(repo: RepoRef, revision = 'main', options: HubOptions = {}): Promise<ResolvedRevision> {
  const opts = resolveHubOptions(options);
  const cached = opts.refresh && !opts.offline && !isCommitSha(revision) ? undefined : cachedRevision(repo, revision, opts);
  if (cached) return { repo, revision, sha: cached, fromCache: true };
  if (opts.offline) throw notCachedError(repo, revision, opts);
  return { repo, revision, sha: await fetchRevisionSha(repo, revision, opts), fromCache: false };
}
