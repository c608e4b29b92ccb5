// Hugging Face hub access for models and datasets: revision resolution, pattern downloads into the standard
// HF cache (offline from it when possible), dataset split files; every failure is a PeftError with code E_HUB.
export { hubCacheDir, repoCacheDir, repoFolderName, isCommitSha, snapshotDir, type RepoRef, type RepoType } from './cache-layout.ts';
export { resolveHubOptions, type HubOptions, type ResolvedHubOptions } from './hub-options.ts';
export { resolveRevision, type ResolvedRevision } from './resolve-revision.ts';
export { downloadRepoFiles, selectFiles, type DownloadRequest, type DownloadResult, type DownloadProgress, type DownloadedFile } from './download.ts';
export {
  downloadDatasetSplit,
  selectSplitFiles,
  selectConversionFiles,
  PARQUET_CONVERSION_REVISION,
  type DatasetSplitRequest,
  type DatasetSplitFiles,
  type DataFileFormat,
} from './dataset-files.ts';
export { downloadModelFiles, REQUIRED_MODEL_FILES, OPTIONAL_MODEL_FILES, type ModelFilesRequest } from './model-files.ts';
