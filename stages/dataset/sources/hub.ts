// Hub dataset sources: resolve() downloads the split's data files into the HF cache and records the commit sha
// (which joins the stage key); run() finds the same files again in the cache (offline once cached).
import { downloadDatasetSplit, type DatasetSplitFiles, type DataFileFormat } from '../../../src/hub/index.ts';
import type { DatasetConfig, DatasetSource } from '../schema.ts';

export interface ResolvedHubSource {
  id: string;
  config: string | null;
  split: string;
  revision: string;
  /** The commit sha the files were taken from. */
  sha: string;
  /** Where they came from: the repo's own data files or the hub's parquet conversion. */
  from: 'repo' | 'parquet-conversion';
  format: DataFileFormat;
  files: string[]; // repo paths
}

export interface HubFetchOptions {
  signal?: AbortSignal;
  onProgress?: (message: string) => void;
}

export async function fetchHubSource(src: DatasetSource, opts: HubFetchOptions = {}): Promise<DatasetSplitFiles> {
  return downloadDatasetSplit(
    {
      id: src.hub!,
      config: src.config ?? undefined,
      split: src.split ?? 'train',
      revision: src.revision ?? 'main',
      onProgress: opts.onProgress ? (p) => opts.onProgress!(`${p.file} ${p.filesDone}/${p.filesTotal} files`) : undefined,
    },
    { signal: opts.signal },
  );
}

function describe(res: DatasetSplitFiles, src: DatasetSource): ResolvedHubSource {
  return {
    id: src.hub!,
    config: res.config ?? null,
    split: res.split,
    revision: src.revision ?? 'main',
    sha: res.sha,
    from: res.source,
    format: res.format,
    files: res.files.map((f) => f.path).sort(),
  };
}

/** What resolve() returns: one entry per hub source (train and, if any, the explicit valid source). */
export async function resolveHubSources(config: DatasetConfig, opts: HubFetchOptions = {}): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  if (config.source.hub) out.hub = describe(await fetchHubSource(config.source, opts), config.source);
  if (config.split.source?.hub) out.validHub = describe(await fetchHubSource(config.split.source, opts), config.split.source);
  return out;
}
