// Finds where a value sits inside a config object (a JSON pointer), to point errors at fields a stage kind declared.
import { escapePointerToken } from './json-source.ts';

export function findPointer(value: unknown, wanted: unknown, base = ''): string | undefined {
  if (value === wanted) return base;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const p = findPointer(value[i], wanted, `${base}/${i}`);
      if (p !== undefined) return p;
    }
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const p = findPointer(v, wanted, `${base}/${escapePointerToken(k)}`);
      if (p !== undefined) return p;
    }
  }
  return undefined;
}
