// Downloads what a base model needs from the hub (config, safetensors weights or shards with their index,
// tokenizer and generation files) into the HF cache, with clear errors when a repo has no usable weights.
import { PeftError } from '../errors.ts';
import { downloadRepoFiles, type DownloadProgress, type DownloadResult } from './download.ts';
import type { HubOptions } from './hub-options.ts';

/** Files a model must have. */
export const REQUIRED_MODEL_FILES = ['config.json', '*.safetensors'] as const;
/** Files taken when present. */
export const OPTIONAL_MODEL_FILES = [
  'model.safetensors.index.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'generation_config.json',
  'tokenizer.model',
] as const;

export interface ModelFilesRequest {
  /** Model id, e.g. "HuggingFaceTB/SmolLM2-135M". */
  id: string;
  revision?: string;
  onProgress?: (p: DownloadProgress) => void;
}

/** Downloads (or finds in the cache) a model's config, weights and tokenizer files. */
export async function downloadModelFiles(req: ModelFilesRequest, options: HubOptions = {}): Promise<DownloadResult> {
  const res = await downloadRepoFiles(
    {
      repo: { type: 'model', id: req.id },
      revision: req.revision,
      include: [...REQUIRED_MODEL_FILES, ...OPTIONAL_MODEL_FILES],
      // Only top-level safetensors: sub-folders (onnx/, original/) hold other formats of the same weights.
      exclude: ['*/*'],
      requireAll: false,
      onProgress: req.onProgress,
    },
    options,
  );
  const paths = res.files.map((f) => f.path);
  const missing: string[] = [];
  if (!paths.includes('config.json')) missing.push('config.json');
  if (!paths.some((p) => p.endsWith('.safetensors'))) missing.push('*.safetensors weights');
  if (missing.length) {
    throw new PeftError('E_HUB', `model "${req.id}" at revision "${res.revision}" (${res.sha.slice(0, 12)}) has no ${missing.join(' and no ')}`, {
      repo: req.id,
      revision: res.revision,
      sha: res.sha,
      hint: 'peftmake reads Hugging Face models saved as safetensors; pick a repo or revision that has model.safetensors (or convert the weights with transformers save_pretrained(safe_serialization=True))',
    });
  }
  return res;
}
