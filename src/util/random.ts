// Seeded pseudo-random numbers shared by the engine and the stages: mulberry32, a small 32-bit generator of uniform [0, 1) floats.

/** A deterministic uniform [0, 1) stream for a 32-bit `seed` (mulberry32). */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
