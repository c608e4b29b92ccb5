// Element-wise merge operators of PEFT's merge_utils (task arithmetic, magnitude / random pruning, TIES sign
// election and disjoint merge, DARE) on flat float64 tensors of equal length, with a seeded, order-free RNG.
import { mulberry32 } from '../../src/util/random.ts';

export type MajoritySignMethod = 'total' | 'frequency';

/** xmur3-style string hash → 32-bit seed, so each tensor's random stream depends only on (seed, name). */
function hashString(s: string): number {
  let h = 1779033703 ^ s.length;
  for (let i = 0; i < s.length; i++) {
    h = Math.imul(h ^ s.charCodeAt(i), 3432918353);
    h = (h << 13) | (h >>> 19);
  }
  h = Math.imul(h ^ (h >>> 16), 2246822507);
  h = Math.imul(h ^ (h >>> 13), 3266489909);
  return (h ^= h >>> 16) >>> 0;
}

/** A deterministic uniform [0,1) stream (mulberry32) for `seed` and a stream name (module + tensor + adapter). */
export function seededUniform(seed: number, stream: string): () => number {
  return mulberry32(hashString(`${seed}:${stream}`) ^ Math.imul(seed >>> 0, 0x9e3779b1));
}

/** Keeps the floor(density·n) largest-magnitude entries (ties broken by lower index), zeroes the rest. density ≥ 1 keeps all. */
export function magnitudePrune(x: Float64Array, density: number): Float64Array {
  if (density >= 1) return Float64Array.from(x);
  const k = Math.floor(density * x.length);
  const idx = Array.from({ length: x.length }, (_, i) => i).sort((i, j) => Math.abs(x[j]) - Math.abs(x[i]) || i - j);
  const out = new Float64Array(x.length);
  for (let t = 0; t < k; t++) out[idx[t]] = x[idx[t]];
  return out;
}

/** DARE: keeps each entry with probability `density` (Bernoulli), rescales kept ones by 1/density. density ≥ 1 keeps all. */
export function randomPrune(x: Float64Array, density: number, rand: () => number): Float64Array {
  if (density >= 1) return Float64Array.from(x);
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) if (rand() < density) out[i] = x[i] / density;
  return out;
}

/** Σ w_i·x_i. */
export function weightedSum(xs: Float64Array[], w: number[]): Float64Array {
  const out = new Float64Array(xs[0].length);
  xs.forEach((x, t) => {
    for (let i = 0; i < out.length; i++) out[i] += w[t] * x[i];
  });
  return out;
}

/**
 * TIES sign election + disjoint merge (PEFT): the majority sign per entry is elected on the UNWEIGHTED (pruned)
 * tensors — by their sum ("total") or by counting signs ("frequency"), ties going to +; the result is the mean of
 * the weighted entries whose sign equals the majority (entries that are 0 never count).
 */
export function tiesMerge(xs: Float64Array[], w: number[], method: MajoritySignMethod): Float64Array {
  const n = xs[0].length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let mag = 0;
    for (const x of xs) mag += method === 'total' ? x[i] : Math.sign(x[i]);
    const major = mag >= 0 ? 1 : -1;
    let sum = 0;
    let count = 0;
    xs.forEach((x, t) => {
      if (Math.sign(x[i]) === major) {
        sum += w[t] * x[i];
        count++;
      }
    });
    out[i] = sum / Math.max(count, 1);
  }
  return out;
}
