// Seeded, order-independent selection: a stable rank per record (SHA-256 of seed and content) drives `limit`
// sampling and the validation split, so the same records land in the same place on every build.
import { hash } from 'node:crypto';

/** What seededRank hashes before the key (the peft_text addon's docDigests takes it as its prefix). */
export function rankPrefix(seed: number, salt: string): string {
  return `${seed}\u0000${salt}\u0000`;
}

export function seededRank(seed: number, salt: string, key: string): number {
  const h = hash('sha256', rankPrefix(seed, salt) + key, 'buffer'); // one-shot: same digest as createHash
  return h.readUIntBE(0, 6) / 2 ** 48;
}

/** Indices of the records chosen by rank (the `n` smallest), returned in source order. */
export function pickByRank(keys: string[], n: number, seed: number, salt: string): number[] {
  const ranked = keys.map((k, i) => ({ i, r: seededRank(seed, salt, k) }));
  ranked.sort((a, b) => a.r - b.r || a.i - b.i);
  return ranked
    .slice(0, n)
    .map((x) => x.i)
    .sort((a, b) => a - b);
}

/** `limit` records: the first ones, or a seeded random sample kept in source order. */
export function sampleIndices(keys: string[], limit: number | null, mode: 'random' | 'first', seed: number): number[] {
  if (limit === null || keys.length <= limit) return keys.map((_, i) => i);
  if (mode === 'first') return keys.slice(0, limit).map((_, i) => i);
  return pickByRank(keys, limit, seed, 'sample');
}

/** Indices held out for validation: round(fraction * n) records (at least 1 when fraction > 0 and n >= 2). */
export function validIndices(keys: string[], fraction: number, seed: number): Set<number> {
  if (fraction <= 0 || keys.length < 2) return new Set();
  const n = Math.min(keys.length - 1, Math.max(1, Math.round(fraction * keys.length)));
  return new Set(pickByRank(keys, n, seed, 'valid'));
}
