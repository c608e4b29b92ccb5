// Shared pieces of the engine's CLI commands (generate, score): parsing `DIR[:SCALE]` adapter specs and id lists,
// loading a model with its adapter stack, and scoring long sequences in overlapping windows.
import { PeftError } from '../errors.ts';
import { loadModel, type AdapterUse, type EngineModel, type Quant } from './model.ts';

export interface AdapterSpec {
  dir: string;
  weight: number;
}

/** "path/to/adapter" or "path/to/adapter:0.5" (the part after the last ':' is the weight when it is a number). */
export function parseAdapterSpec(spec: string): AdapterSpec {
  const i = spec.lastIndexOf(':');
  if (i > 0) {
    const w = spec.slice(i + 1);
    if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(w)) return { dir: spec.slice(0, i), weight: Number(w) };
  }
  if (!spec) throw new PeftError('E_USAGE', '--adapter needs a directory (DIR or DIR:SCALE)');
  return { dir: spec, weight: 1 };
}

export function parseIds(text: string, flag: string): number[] {
  const parts = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (parts.length === 0) throw new PeftError('E_USAGE', `${flag} needs a comma-separated list of token ids, e.g. ${flag} 1,403,407`);
  return parts.map((p) => {
    if (!/^\d+$/.test(p)) throw new PeftError('E_USAGE', `${flag}: '${p}' is not a non-negative integer token id`);
    return Number(p);
  });
}

export function checkQuant(q: unknown): Quant {
  if (q === undefined) return 'none';
  if (q !== 'none' && q !== 'nf4') throw new PeftError('E_USAGE', `--quant must be 'nf4' or 'none', got '${String(q)}'`);
  return q;
}

export async function loadWithAdapters(dir: string, quant: Quant, specs: string[]): Promise<{ model: EngineModel; adapters: AdapterUse[] }> {
  const model = await loadModel({ dir, quant });
  const adapters: AdapterUse[] = [];
  for (const s of specs) {
    const { dir: adir, weight } = parseAdapterSpec(s);
    adapters.push({ adapter: await model.loadAdapter(adir), weight });
  }
  return { model, adapters };
}

export function checkIds(model: EngineModel, ids: number[], flag: string): void {
  for (const id of ids)
    if (id >= model.info.vocabSize) throw new PeftError('E_USAGE', `${flag}: id ${id} is outside the vocabulary (size ${model.info.vocabSize})`);
}

/**
 * Log-probs of every token after the first, for sequences longer than the model's context: windows of `window`
 * tokens advancing by `stride`; each token is scored once, in the first window that reaches it with the most context.
 */
export async function scoreWindows(
  model: EngineModel,
  ids: number[],
  adapters: AdapterUse[],
  window: number,
  stride: number,
  onWindow?: (done: number, total: number) => void,
): Promise<number[]> {
  if (ids.length <= window) return (await model.score(ids, adapters)).logprobs;
  const out: number[] = [];
  const total = Math.ceil((ids.length - window) / stride) + 1;
  let scoredUpTo = 0; // targets ids[1..scoredUpTo] are done
  for (let begin = 0, k = 0; scoredUpTo < ids.length - 1; begin += stride, k++) {
    const end = Math.min(begin + window, ids.length);
    const lp = (await model.score(ids.slice(begin, end), adapters)).logprobs; // lp[j] scores ids[begin + j + 1]
    for (let j = 0; j < lp.length; j++) if (begin + j + 1 > scoredUpTo) out.push(lp[j]);
    scoredUpTo = end - 1;
    onWindow?.(k + 1, total);
  }
  return out;
}
