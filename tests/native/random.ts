// Seeded randomness shared by the native tests: a 32-bit LCG in [0, 1) and random LoRA B matrices (B = 0 is a no-op).
import type { EngineAdapter } from '../../src/engine/index.ts';
import { nativeEngine } from '../../src/engine/native.ts';

export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
}

/** Sets every lora_B of the adapter to uniform values in [-std, std) drawn from lcg(seed), in tensor order. */
export function randomizeB(a: EngineAdapter, seed: number, std: number): void {
  const rnd = lcg(seed);
  for (const [k, v] of Object.entries(nativeEngine().adapterTensors(a.handle)))
    if (k.includes('lora_B'))
      nativeEngine().adapterSetTensor(
        a.handle,
        k,
        v.map(() => (rnd() * 2 - 1) * std),
      );
}
