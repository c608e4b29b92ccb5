// Scoring sequences longer than the model's context in overlapping windows (score, evals of long documents).
import type { AdapterUse, EngineModel } from './model.ts';

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
