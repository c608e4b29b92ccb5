// Turns hub client failures (HTTP status + the hub's X-Error-Code header, network errors) into PeftError E_HUB
// messages that name the repo, the revision and the fix.
import { PeftError } from '../errors.ts';
import type { RepoRef } from './cache-layout.ts';
import type { ResolvedHubOptions } from './hub-options.ts';

/** What the last failed response said; filled by the fetch wrapper, read when the client throws. */
export interface FailureNote {
  status?: number;
  errorCode?: string; // X-Error-Code: RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo
  url?: string;
}

/** Wraps fetch so that the hub's X-Error-Code of a failing response is kept for the error message. */
export function recordingFetch(base: typeof fetch, note: FailureNote, signal?: AbortSignal): typeof fetch {
  return (async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
    const res = await base(input, signal && !init?.signal ? { ...init, signal } : init);
    if (!res.ok) {
      note.status = res.status;
      note.errorCode = res.headers.get('x-error-code') ?? undefined;
      note.url = res.url || String(input);
    }
    return res;
  }) as typeof fetch;
}

export function repoLabel(repo: RepoRef): string {
  return `${repo.type} "${repo.id}"`;
}

export function repoWebUrl(hubUrl: string, repo: RepoRef): string {
  return `${hubUrl}/${repo.type === 'dataset' ? 'datasets/' : ''}${repo.id}`;
}

interface Ctx {
  repo: RepoRef;
  revision: string;
  path?: string;
  opts: ResolvedHubOptions;
  note: FailureNote;
}

/** Maps any error thrown while talking to the hub to a PeftError('E_HUB'). */
export function hubError(err: unknown, ctx: Ctx): PeftError {
  if (err instanceof PeftError) return err;
  const { repo, revision, opts, note } = ctx;
  const where = `${repoLabel(repo)} at revision "${revision}"${ctx.path ? `, file "${ctx.path}"` : ''}`;
  const details = { repo: repo.id, repoType: repo.type, revision, path: ctx.path, status: note.status, hubUrl: opts.hubUrl };
  const e = err as { name?: string; message?: string; statusCode?: number; cause?: { code?: string; message?: string } };
  if (e?.name === 'AbortError' || opts.signal?.aborted) return new PeftError('E_CANCELLED', `hub download of ${where} was cancelled`, details);
  if (e instanceof TypeError && /access token/i.test(e.message ?? '')) {
    return new PeftError('E_HUB', `${opts.tokenSource ?? 'the hub token'} is not a Hugging Face token: ${e.message}`, {
      ...details,
      hint: 'set HF_TOKEN to a token that starts with hf_ (create one at https://huggingface.co/settings/tokens)',
    });
  }
  const status = e?.statusCode ?? note.status;
  const code = note.errorCode;
  const tokenHint = opts.token
    ? `the token from ${opts.tokenSource} was sent; check that it has read access to ${repoWebUrl(opts.hubUrl, repo)}`
    : 'set HF_TOKEN to a Hugging Face access token with read access (https://huggingface.co/settings/tokens)';
  if (code === 'GatedRepo' || status === 403) {
    return new PeftError('E_HUB', `${where} is gated: access is restricted until you accept its conditions (HTTP ${status ?? 403})`, {
      ...details,
      hint: `accept the conditions at ${repoWebUrl(opts.hubUrl, repo)} and ${opts.token ? `make sure ${opts.tokenSource} belongs to that account` : 'set HF_TOKEN to a token of that account'}`,
    });
  }
  if (code === 'RevisionNotFound') {
    return new PeftError('E_HUB', `${repoLabel(repo)} has no revision "${revision}" (not a branch, tag or commit of the repo)`, {
      ...details,
      hint: `use an existing branch, tag or full commit sha (see ${repoWebUrl(opts.hubUrl, repo)}/tree/main)`,
    });
  }
  if (code === 'EntryNotFound') {
    return new PeftError('E_HUB', `${where}: the file does not exist in that revision`, { ...details, hint: 'check the file name and the revision' });
  }
  if (code === 'RepoNotFound' || status === 404 || status === 401) {
    if (status === 401) {
      return new PeftError('E_HUB', `${where}: repository not found or not accessible (HTTP 401 Unauthorized)`, {
        ...details,
        hint: `check the repo id; if it is private or gated, ${tokenHint}`,
      });
    }
    return new PeftError('E_HUB', `${where}: repository not found (HTTP 404)`, {
      ...details,
      hint: `check the repo id and type (${repo.type}); ${tokenHint} if it is private`,
    });
  }
  if (status !== undefined) {
    return new PeftError('E_HUB', `${where}: the hub answered HTTP ${status}: ${e?.message ?? ''}`.trim(), {
      ...details,
      hint: 'retry later, or set HF_HUB_OFFLINE=1 to build from the cache',
    });
  }
  const cause = e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
  return new PeftError('E_HUB', `cannot reach the hub at ${opts.hubUrl} for ${where}: ${cause}`, {
    ...details,
    hint: 'check the network (or HF_ENDPOINT); to build from what is already cached, set HF_HUB_OFFLINE=1',
  });
}

/** Offline (HF_HUB_OFFLINE=1 or no network wanted) and what was asked for is not in the cache. */
export function notCachedError(repo: RepoRef, revision: string, opts: ResolvedHubOptions, missing?: string[]): PeftError {
  const what = missing?.length
    ? `files ${missing
        .slice(0, 5)
        .map((m) => `"${m}"`)
        .join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''} of `
    : '';
  return new PeftError('E_HUB', `offline (HF_HUB_OFFLINE=1) and ${what}${repoLabel(repo)} at revision "${revision}" is not in the cache ${opts.cacheDir}`, {
    repo: repo.id,
    repoType: repo.type,
    revision,
    cacheDir: opts.cacheDir,
    hint: 'run the build once online (unset HF_HUB_OFFLINE) to fill the cache, or point HF_HOME / HF_HUB_CACHE at a cache that has it',
  });
}
