// The path rule on real paths: a project input or output, once symlinks are resolved, must stay inside the project.
// Inputs that leave it are refused (declare them as external instead); outputs are never deleted or written through
// a symlink that leaves it.
import { existsSync, realpathSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, isAbsolute, sep } from 'node:path';
import { PeftError } from '../errors.ts';

const realRoots = new Map<string, string>();

function realRoot(projectDir: string): string {
  let r = realRoots.get(projectDir);
  if (!r) realRoots.set(projectDir, (r = realpathSync(projectDir)));
  return r;
}

function within(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** The real path of `abs`, or of its nearest existing ancestor joined with the rest (for paths not created yet). */
export function realPathOf(abs: string): string {
  let probe = abs;
  const rest: string[] = [];
  while (!existsSync(probe)) {
    const up = dirname(probe);
    if (up === probe) return abs;
    rest.unshift(relative(up, probe));
    probe = up;
  }
  return resolve(realpathSync(probe), ...rest);
}

/** Refuses a project input whose real path is outside the project (a symlink out of it). */
export function checkInputInside(stage: string, projectDir: string, abs: string): void {
  const real = realPathOf(abs);
  if (!within(realRoot(projectDir), real)) throw outsideInput(stage, projectDir, abs, real);
}

/**
 * The same rule for a file a directory walk found to be a regular file (not a symlink): only its folder's real path
 * matters (a regular file named inside a folder within the project is within it), judged once per folder through
 * `realDirs`: null for a folder inside the project, else its real path (resolving each file's path component by
 * component cost five lstat calls per file).
 */
export function checkWalkedFileInside(stage: string, projectDir: string, abs: string, realDirs: Map<string, string | null>): void {
  const cut = abs.lastIndexOf(sep);
  const dir = cut > 0 ? abs.slice(0, cut) : dirname(abs);
  let outside = realDirs.get(dir);
  if (outside === undefined) {
    const realDir = realPathOf(dir);
    realDirs.set(dir, (outside = within(realRoot(projectDir), realDir) ? null : realDir));
  }
  if (outside !== null) throw outsideInput(stage, projectDir, abs, join(outside, basename(abs)));
}

function outsideInput(stage: string, projectDir: string, abs: string, real: string): PeftError {
  const shown = relative(projectDir, abs);
  return new PeftError('E_CONFIG_SEMANTIC', `${stage}: input "${shown}" is a symlink to ${real}, outside the project; it was not read`, {
    file: abs,
    hint: `copy the file into the project in place of the link, or declare its folder as an external (read-only) input`,
  });
}

/** Refuses to delete or write a declared output whose real path (through symlinked folders) leaves the project. */
export function checkOutputInside(stage: string, projectDir: string, rel: string): void {
  const abs = resolve(projectDir, rel);
  // The output itself may be a symlink (removing it removes the link only); what matters is the folder it sits in.
  const real = resolve(realPathOf(dirname(abs)), relative(dirname(abs), abs));
  if (within(realRoot(projectDir), real)) return;
  throw new PeftError(
    'E_CONFIG_SEMANTIC',
    `${stage}: output "${rel}" resolves through a symlink to ${real}, outside the project; nothing was deleted or written there`,
    {
      file: abs,
      hint: `replace the symlinked folder with a real folder inside the project`,
    },
  );
}
