// Paths written into artifacts: a path inside the project is recorded project-relative (POSIX), so a copied or moved
// project reads its own files; a path outside it (a declared external model, the Hugging Face cache) stays absolute.
// Objects live at <project>/artifacts/objects/<key> (temp dirs at the same depth), which fixes the project root.
import { isAbsolute, relative, resolve, sep } from 'node:path';

export function portablePath(projectDir: string, abs: string): string {
  const rel = relative(projectDir, abs);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return rel === '' ? '.' : abs;
  return sep === '/' ? rel : rel.split(sep).join('/');
}

/** The project an object (or a stage's temp dir) belongs to: <project>/artifacts/<objects|tmp>/<name>. */
export function projectOfObject(objectDir: string): string {
  return resolve(objectDir, '..', '..', '..');
}

/** Resolves a path read from an artifact: absolute stays, relative is against the object's project. */
export function resolvePortable(objectDir: string, p: string): string {
  return isAbsolute(p) ? p : resolve(projectOfObject(objectDir), p);
}
