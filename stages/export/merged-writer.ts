// Writes a merged model as a Hugging Face model directory: safetensors in bf16 / fp16 / fp32, split into
// model-0000i-of-0000n.safetensors shards with model.safetensors.index.json past `maxShardBytes`, config.json
// (torch_dtype set), generation_config.json and the tokenizer files.
import { join } from 'node:path';
import { writeSafetensorsStream, type Tensor, type TensorSpec } from '../../src/hf/safetensors.ts';
import { toBf16Array, toHalfArray } from '../../src/hf/half-floats.ts';
import { copyTokenizerFiles, generationConfigFor, readJsonFile, writeJson } from './hf-files.ts';

export type MergedDtype = 'bf16' | 'fp16' | 'fp32';

const ST_DTYPE: Record<MergedDtype, string> = { bf16: 'BF16', fp16: 'F16', fp32: 'F32' };
const TORCH_DTYPE: Record<MergedDtype, string> = { bf16: 'bfloat16', fp16: 'float16', fp32: 'float32' };
const WIDTH: Record<MergedDtype, number> = { bf16: 2, fp16: 2, fp32: 4 };

export function encodeTensor(t: Tensor, dtype: MergedDtype): Uint8Array {
  if (dtype === 'fp32') return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return new Uint8Array((dtype === 'bf16' ? toBf16Array(t.data) : toHalfArray(t.data)).buffer);
}

/** Groups sorted tensor names into shards of at most maxBytes each (a tensor larger than that gets its own). */
export function planShards(sizes: [string, number][], maxBytes: number): string[][] {
  const shards: string[][] = [];
  let cur: string[] = [];
  let bytes = 0;
  for (const [name, n] of sizes) {
    if (cur.length && bytes + n > maxBytes) {
      shards.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(name);
    bytes += n;
  }
  if (cur.length) shards.push(cur);
  return shards;
}

export interface MergedWriteResult {
  files: string[];
  totalBytes: number;
  shards: number;
}

export function writeMergedModel(
  dst: string,
  modelDir: string,
  tensors: Map<string, Tensor>,
  opts: { dtype: MergedDtype; maxShardBytes: number },
): MergedWriteResult {
  const config = readJsonFile(join(modelDir, 'config.json'));
  const names = [...tensors.keys()].sort();
  const sizes: [string, number][] = names.map((n) => [n, tensors.get(n)!.data.length * WIDTH[opts.dtype]]);
  const totalBytes = sizes.reduce((a, [, b]) => a + b, 0);
  const shards = planShards(sizes, opts.maxShardBytes);
  const files: string[] = [];
  const weightMap: Record<string, string> = {};
  shards.forEach((shard, i) => {
    const file = shards.length === 1 ? 'model.safetensors' : `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`;
    const specs: TensorSpec[] = shard.map((n) => ({ name: n, dtype: ST_DTYPE[opts.dtype], shape: tensors.get(n)!.shape }));
    writeSafetensorsStream(join(dst, file), specs, (s) => encodeTensor(tensors.get(s.name)!, opts.dtype), { format: 'pt' });
    for (const n of shard) weightMap[n] = file;
    files.push(file);
  });
  if (shards.length > 1) {
    writeJson(join(dst, 'model.safetensors.index.json'), { metadata: { total_size: totalBytes }, weight_map: weightMap });
    files.push('model.safetensors.index.json');
  }
  writeJson(join(dst, 'config.json'), { ...config, torch_dtype: TORCH_DTYPE[opts.dtype] });
  writeJson(join(dst, 'generation_config.json'), generationConfigFor(modelDir, config));
  files.push('config.json', 'generation_config.json', ...copyTokenizerFiles(modelDir, dst));
  return { files, totalBytes, shards: shards.length };
}
