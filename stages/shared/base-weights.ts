// Reads a Hugging Face model directory's weights (model.safetensors, or the shards model.safetensors.index.json
// lists) as float32 tensors by name, with the dtype each was stored in.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PeftError } from '../../src/errors.ts';
import { readSafetensors, readSafetensorsHeader, type Tensor } from '../../src/hf/safetensors.ts';

export function weightFiles(modelDir: string): string[] {
  const index = join(modelDir, 'model.safetensors.index.json');
  if (existsSync(index)) {
    let map: unknown;
    try {
      map = (JSON.parse(readFileSync(index, 'utf8')) as { weight_map?: unknown }).weight_map;
    } catch (e) {
      throw new PeftError('E_MODEL', `${index}: not valid JSON (${(e as Error).message})`, { file: index });
    }
    if (!map || typeof map !== 'object') throw new PeftError('E_MODEL', `${index}: no "weight_map" object`, { file: index, pointer: '/weight_map' });
    return [...new Set(Object.values(map as Record<string, string>))].sort().map((f) => join(modelDir, f));
  }
  const single = join(modelDir, 'model.safetensors');
  if (!existsSync(single))
    throw new PeftError('E_MODEL', `${modelDir}: no model.safetensors (nor model.safetensors.index.json)`, {
      file: single,
      hint: 'exports read Hugging Face safetensors checkpoints',
    });
  return [single];
}

export interface BaseWeights {
  tensors: Map<string, Tensor>;
  /** The stored dtype of the first floating tensor (F32 / F16 / BF16). */
  storedDtype: string;
}

export function readBaseWeights(modelDir: string): BaseWeights {
  const tensors = new Map<string, Tensor>();
  let storedDtype = '';
  for (const f of weightFiles(modelDir)) {
    storedDtype ||= readSafetensorsHeader(f).tensors[0]?.dtype ?? '';
    for (const [k, v] of readSafetensors(f).tensors) tensors.set(k, v);
  }
  return { tensors, storedDtype };
}

/** Names and shapes only (for validating an adapter against the base without reading the weights). */
export function baseShapes(modelDir: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const f of weightFiles(modelDir)) for (const t of readSafetensorsHeader(f).tensors) out.set(t.name, t.shape);
  return out;
}
