// Paths of the shared read-only fixtures the native engine tests use, and a reason to skip when they are absent.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const FIXTURES = resolve(here, '..', '..', '..', 'shared', 'fixtures');
export const STORIES = join(FIXTURES, 'stories260K', 'hf');
export const PEFT = join(FIXTURES, 'peft-stories260K');
export const HF_TINY = join(FIXTURES, 'hf-tiny');
export const TINYSTORIES = join(FIXTURES, 'tinystories-sample');
export const hasFixtures = existsSync(STORIES);
export const ADDON = resolve(here, '..', '..', 'native', 'build', 'Release', 'peft_engine.node');
export const hasAddon = existsSync(ADDON);
export const skipReason = !hasAddon ? 'native addon not built (npm run build:native)' : !hasFixtures ? '../shared/fixtures is absent' : '';
export const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};
