// Deduplication: exact (SHA-1 of the cleaned text) and near-duplicate (MinHash of word 5-grams with LSH banding,
// candidates confirmed by their estimated Jaccard similarity).
import { hash } from 'node:crypto';

/** SHA-1 (base64) of the texts joined by NUL; one-shot `hash` gives the same digest as createHash without its per-call object. */
export function contentKey(texts: string[]): string {
  return hash('sha1', texts.length === 1 ? texts[0] : texts.join('\u0000'), 'base64');
}

const NUM_HASHES = 128;
const BANDS = 32;
const ROWS = NUM_HASHES / BANDS;
const SHINGLE = 5;
const SEEDS = Array.from({ length: NUM_HASHES }, (_, i) => (Math.imul(i + 1, 0x9e3779b1) ^ 0x85ebca6b) >>> 0);

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function mix(h: number, seed: number): number {
  let x = (h ^ seed) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

export function minhash(text: string): Uint32Array {
  const words = text.toLowerCase().split(/\W+/).filter(Boolean);
  const sig = new Uint32Array(NUM_HASHES).fill(0xffffffff);
  const n = Math.max(1, words.length - SHINGLE + 1);
  for (let i = 0; i < n; i++) {
    const h = fnv1a(words.slice(i, i + SHINGLE).join(' '));
    for (let k = 0; k < NUM_HASHES; k++) {
      const v = mix(h, SEEDS[k]);
      if (v < sig[k]) sig[k] = v;
    }
  }
  return sig;
}

export function estimatedJaccard(a: Uint32Array, b: Uint32Array): number {
  let same = 0;
  for (let k = 0; k < NUM_HASHES; k++) if (a[k] === b[k]) same++;
  return same / NUM_HASHES;
}

/** Streaming near-duplicate filter: `isDuplicate` returns true when an earlier kept text is at least `threshold` similar. */
export class NearDupIndex {
  private readonly buckets = new Map<string, number[]>();
  private readonly sigs: Uint32Array[] = [];
  constructor(private readonly threshold: number) {}

  isDuplicate(text: string): boolean {
    const sig = minhash(text);
    const keys: string[] = [];
    for (let b = 0; b < BANDS; b++) keys.push(`${b}:${Array.from(sig.subarray(b * ROWS, (b + 1) * ROWS)).join(',')}`);
    const seen = new Set<number>();
    for (const key of keys)
      for (const j of this.buckets.get(key) ?? []) {
        if (seen.has(j)) continue;
        seen.add(j);
        if (estimatedJaccard(sig, this.sigs[j]) >= this.threshold) return true;
      }
    const id = this.sigs.push(sig) - 1;
    for (const key of keys) {
      const list = this.buckets.get(key);
      if (list) list.push(id);
      else this.buckets.set(key, [id]);
    }
    return false;
  }
}
