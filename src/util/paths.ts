// Project-relative path helpers: normalisation, escape checks, overlap between outputs and deps (globs by their static base).
import { posix } from 'node:path';

/** Normalised POSIX form without a trailing slash; `./a//b/` -> `a/b`. */
export function normalizeRel(p: string): string {
  const n = posix.normalize(p.replace(/\\/g, '/'));
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

export function escapesProject(p: string): boolean {
  const n = normalizeRel(p);
  return posix.isAbsolute(n) || /^[A-Za-z]:/.test(p) || n === '..' || n.startsWith('../');
}

export function isGlob(p: string): boolean {
  return /[*?[\]{}]/.test(p);
}

/** The directory part of a glob before its first wildcard segment (`data/*.md` -> `data`). */
export function globBase(p: string): string {
  const parts = normalizeRel(p).split('/');
  const i = parts.findIndex((s) => isGlob(s));
  return i < 0 ? parts.join('/') : parts.slice(0, i).join('/') || '.';
}

/** a equals b or lies inside it. */
export function isWithin(a: string, b: string): boolean {
  return b === '.' || a === b || a.startsWith(`${b}/`);
}

export function overlaps(a: string, b: string): boolean {
  return isWithin(a, b) || isWithin(b, a);
}
