// Finds and downloads the data files of one config + split of a hub dataset: files the repo stores directly
// (parquet / jsonl / json / csv, e.g. `plain_text/train-00000-of-00001.parquet`, `data/train.jsonl`), or else the
// hub's parquet conversion on the `refs/convert/parquet` branch (`<config>/<split>/0000.parquet`).
import { PeftError } from '../errors.ts';
import { isCommitSha, readRef, repoCacheDir, writeRef, type RepoRef } from './cache-layout.ts';
import { downloadRepoFiles, type DownloadProgress, type DownloadResult } from './download.ts';
import { notCachedError } from './hub-errors.ts';
import { resolveHubOptions, type HubOptions, type ResolvedHubOptions } from './hub-options.ts';
import { repoListing, type RepoFileEntry } from './repo-listing.ts';
import { fetchRevisionSha } from './resolve-revision.ts';

export const PARQUET_CONVERSION_REVISION = 'refs/convert/parquet';

/** Data file extensions in order of preference when a split has several kinds. */
const DATA_EXTENSIONS = ['.parquet', '.jsonl', '.json', '.csv'] as const;
export type DataFileFormat = 'parquet' | 'jsonl' | 'json' | 'csv';

export interface DatasetSplitRequest {
  /** Dataset id, e.g. "rajpurkar/squad" or "wikitext". */
  id: string;
  /** Config (subset) name, e.g. "wikitext-2-raw-v1"; default: the only one, or "default". */
  config?: string;
  split: string;
  /** Branch, tag or sha; default "main". "refs/convert/parquet" asks for the conversion only. */
  revision?: string;
  onProgress?: (p: DownloadProgress) => void;
}

export interface DatasetSplitFiles {
  repo: RepoRef;
  /** The revision the files were taken from ("main" or "refs/convert/parquet", or the caller's). */
  revision: string;
  sha: string;
  config: string | undefined;
  split: string;
  format: DataFileFormat;
  source: 'repo' | 'parquet-conversion';
  files: DownloadResult['files'];
  fromCache: boolean;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function extensionOf(path: string): DataFileFormat | undefined {
  const ext = DATA_EXTENSIONS.find((e) => path.toLowerCase().endsWith(e));
  return ext ? (ext.slice(1) as DataFileFormat) : undefined;
}

/**
 * The data files of `split` among `paths` stored directly in a repo (huggingface `datasets`' default patterns):
 * within `<config>/` when a config is named (anywhere when it is not, or is "default"), a file whose directory is
 * named like the split or whose name has the split as a word (`train-00000-of-00001.parquet`, `data/train.jsonl`).
 * Only the most preferred extension present is returned.
 */
export function selectSplitFiles(paths: string[], config: string | undefined, split: string): { paths: string[]; format?: DataFileFormat } {
  const wordRe = new RegExp(`(^|[-_.\\s])${escapeRe(split)}($|[-_.\\s])`, 'i');
  const inConfig = (p: string) => (config && config !== 'default' ? p.startsWith(`${config}/`) || p.startsWith(`data/${config}/`) : true);
  const candidates = paths.filter((p) => {
    if (!extensionOf(p) || !inConfig(p)) return false;
    const parts = p.split('/');
    const base = parts[parts.length - 1].replace(/\.[^.]+$/, '');
    return parts.slice(0, -1).some((d) => d.toLowerCase() === split.toLowerCase()) || wordRe.test(base);
  });
  for (const ext of DATA_EXTENSIONS) {
    const fmt = ext.slice(1) as DataFileFormat;
    const hit = candidates.filter((p) => extensionOf(p) === fmt).sort();
    if (hit.length) return { paths: hit, format: fmt };
  }
  return { paths: [] };
}

/** The parquet files of config/split on the conversion branch (`<config>/<split>/*.parquet`, or older `<config>/*-<split>.parquet`). */
export function selectConversionFiles(paths: string[], config: string | undefined, split: string): { paths: string[]; config?: string } {
  const configs = [...new Set(paths.filter((p) => p.includes('/')).map((p) => p.split('/')[0]))];
  const cfg = config ?? (configs.length === 1 ? configs[0] : configs.includes('default') ? 'default' : undefined);
  if (!cfg) return { paths: [] };
  const inDir = paths.filter((p) => p.endsWith('.parquet') && (p.startsWith(`${cfg}/${split}/`) || p.startsWith(`${cfg}/partial-${split}/`)));
  if (inDir.length) return { paths: inDir.sort(), config: cfg };
  const flat = paths.filter((p) => p.startsWith(`${cfg}/`) && p.split('/').length === 2 && new RegExp(`-${escapeRe(split)}(-\\d+)?\\.parquet$`).test(p));
  return { paths: flat.sort(), config: cfg };
}

async function listingAt(repo: RepoRef, revision: string, opts: ResolvedHubOptions): Promise<{ sha: string; files: RepoFileEntry[] } | undefined> {
  const repoDir = repoCacheDir(opts.cacheDir, repo);
  const useRefs = !(opts.refresh && !opts.offline);
  const sha = isCommitSha(revision) ? revision : useRefs ? readRef(repoDir, revision) : undefined;
  if (sha) {
    const l = await repoListing(repo, revision, sha, opts);
    if (l) return { sha, files: l.files };
  }
  if (opts.offline) return undefined;
  const fresh = await fetchRevisionSha(repo, revision, opts);
  const l = await repoListing(repo, revision, fresh, opts);
  if (!l) return undefined;
  writeRef(repoDir, revision, fresh); // the listing is cached, so this revision now resolves offline
  return { sha: fresh, files: l.files };
}

function exact(path: string): string {
  return path.replace(/[*?[\]{}]/g, (c) => `[${c}]`);
}

/** Downloads (or finds in the cache) the data files of one config + split of a hub dataset. */
export async function downloadDatasetSplit(req: DatasetSplitRequest, options: HubOptions = {}): Promise<DatasetSplitFiles> {
  const opts = resolveHubOptions(options);
  const repo: RepoRef = { type: 'dataset', id: req.id };
  const revision = req.revision ?? 'main';
  const fetchFiles = async (rev: string, paths: string[]) =>
    downloadRepoFiles({ repo, revision: rev, include: paths.map(exact), onProgress: req.onProgress }, options);

  let configsSeen: string[] = [];
  if (revision !== PARQUET_CONVERSION_REVISION) {
    const listing = await listingAt(repo, revision, opts);
    if (!listing) throw notCachedError(repo, revision, opts);
    const picked = selectSplitFiles(
      listing.files.map((f) => f.path),
      req.config,
      req.split,
    );
    if (picked.paths.length) {
      const res = await fetchFiles(listing.sha, picked.paths);
      return {
        repo,
        revision,
        sha: res.sha,
        config: req.config,
        split: req.split,
        format: picked.format!,
        source: 'repo',
        files: res.files,
        fromCache: res.fromCache,
      };
    }
    configsSeen = [
      ...new Set(
        listing.files
          .map((f) => f.path)
          .filter((p) => p.includes('/'))
          .map((p) => p.split('/')[0]),
      ),
    ];
  }
  const conv = await listingAt(repo, PARQUET_CONVERSION_REVISION, opts).catch((e: unknown) => {
    if (e instanceof PeftError && /no revision/.test(e.message)) return undefined; // the dataset has no conversion
    throw e;
  });
  if (conv) {
    const picked = selectConversionFiles(
      conv.files.map((f) => f.path),
      req.config,
      req.split,
    );
    if (picked.paths.length) {
      const res = await fetchFiles(conv.sha, picked.paths);
      return {
        repo,
        revision: PARQUET_CONVERSION_REVISION,
        sha: res.sha,
        config: picked.config,
        split: req.split,
        format: 'parquet',
        source: 'parquet-conversion',
        files: res.files,
        fromCache: res.fromCache,
      };
    }
    configsSeen = [
      ...new Set([
        ...configsSeen,
        ...conv.files
          .map((f) => f.path)
          .filter((p) => p.includes('/'))
          .map((p) => p.split('/')[0]),
      ]),
    ];
  } else if (opts.offline) {
    throw notCachedError(repo, PARQUET_CONVERSION_REVISION, opts);
  }
  throw new PeftError(
    'E_HUB',
    `dataset "${req.id}" at revision "${revision}" has no data files for ${req.config ? `config "${req.config}", ` : ''}split "${req.split}"${conv ? ' (neither in the repo nor in its parquet conversion)' : ''}${configsSeen.length ? `; folders seen: ${configsSeen.slice(0, 10).join(', ')}` : ''}`,
    {
      repo: req.id,
      revision,
      config: req.config,
      split: req.split,
      hint: 'check the config and split names on the dataset page (e.g. "train", "validation", "test")',
    },
  );
}
