// Expands declared inputs (files, directories, globs) into a sorted list of files, leaving out excluded subtrees;
// the stamps seen on the way (folder scans through the peft_fs addon, a named file's stat) are handed to hashing.
import { type Dirent, type Stats, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { PeftError } from '../errors.ts';
import { globBase, isGlob, isWithin, normalizeRel } from '../util/paths.ts';
import { PROJECT_GLOB, globToRegExp } from '../util/glob.ts';
import { checkInputInside, checkWalkedFileInside } from '../util/confine.ts';
import { type FileStamp, stampOf } from './hash-cache.ts';
import { type DirScan, ENTRY_DIR, ENTRY_FILE, ENTRY_LINK, nativeScanDir, stampAt } from './scan-dir.ts';

/** Directories never hashed as inputs. */
const SKIP_DIRS = new Set(['.git', 'node_modules']);

/** Collects the files under `absDir`; symlinks also go into `links` when given (their targets need checking). */
async function walk(absDir: string, out: string[], links?: Set<string>, stamps?: Map<string, FileStamp>): Promise<void> {
  const scan = nativeScanDir();
  if (scan) return walkScanned(scan, absDir, out, links, stamps);
  let ents: Dirent[];
  try {
    ents = await readdir(absDir, { withFileTypes: true });
  } catch {
    return;
  }
  const subdirs: Promise<void>[] = [];
  const prefix = absDir.endsWith(sep) ? absDir : absDir + sep; // absDir is normalized: concatenation is join
  for (const e of ents) {
    const p = prefix + e.name;
    if (e.isDirectory()) {
      if (!SKIP_DIRS.has(e.name)) subdirs.push(walk(p, out, links));
    } else if (e.isFile()) out.push(p);
    else if (e.isSymbolicLink()) {
      out.push(p);
      links?.add(p);
    }
  }
  await Promise.all(subdirs);
}

/** The same walk through the peft_fs addon: one call per folder, and every file's stamp into `stamps`. */
function walkScanned(scan: (dir: string) => DirScan | null, absDir: string, out: string[], links?: Set<string>, stamps?: Map<string, FileStamp>): void {
  const r = scan(absDir);
  if (!r) return;
  const prefix = absDir.endsWith(sep) ? absDir : absDir + sep;
  for (let i = 0; i < r.names.length; i++) {
    const kind = r.kinds[i];
    const p = prefix + r.names[i];
    if (kind === ENTRY_DIR) {
      if (!SKIP_DIRS.has(r.names[i])) walkScanned(scan, p, out, links, stamps);
    } else if (kind === ENTRY_FILE || kind === ENTRY_LINK) {
      out.push(p);
      if (kind === ENTRY_LINK) links?.add(p);
      const st = stamps && stampAt(r, i);
      if (st) stamps.set(p, st);
    }
  }
}

const toPosix = (p: string): string => (sep === '/' ? p : p.split(sep).join('/'));

/**
 * Expands `patterns` (relative to `baseDir`, or absolute for external inputs) to absolute file paths, sorted.
 * A file or directory that does not exist, or a glob that matches nothing, is an E_INPUT_MISSING error.
 */
export async function expandInputs(
  stage: string,
  baseDir: string,
  patterns: readonly string[],
  excludes: readonly string[] = [],
  stamps?: Map<string, FileStamp>,
): Promise<string[]> {
  const files = new Set<string>();
  const base = resolve(baseDir);
  const basePrefix = base.endsWith(sep) ? base : base + sep;
  const artifacts = `${basePrefix}artifacts`;
  const excluded = (abs: string): boolean => {
    // Walked paths are normalized: the store is a prefix test, and below the base a relative path is the rest of the string.
    if (abs.startsWith(artifacts) && (abs.length === artifacts.length || abs[artifacts.length] === sep)) return true;
    if (excludes.length === 0) return false;
    const rel = toPosix(abs.startsWith(basePrefix) ? abs.slice(basePrefix.length) : relative(baseDir, abs));
    for (let i = 0; i < excludes.length; i++) if (isWithin(rel, excludes[i])) return true;
    return false;
  };
  const realDirs = new Map<string, string | null>();
  for (const pattern of patterns) {
    const found: string[] = [];
    const links = new Set<string>(); // walked symlinks; walked regular files need only their folder checked
    if (isGlob(pattern)) {
      const base = resolve(baseDir, globBase(pattern));
      const re = globToRegExp(toPosix(resolve(baseDir, normalizeRel(pattern))), PROJECT_GLOB);
      const all: string[] = [];
      await walk(base, all, links, stamps);
      for (const f of all) if (re.test(toPosix(f))) found.push(f);
      if (found.length === 0)
        throw new PeftError('E_INPUT_MISSING', `${stage}: input glob "${pattern}" matches no file`, { hint: 'fix the glob or create the files' });
    } else {
      const abs = resolve(baseDir, pattern);
      // One synchronous stat (a promise per pattern cost more than the call); links are followed.
      let st: Stats | undefined;
      try {
        st = statSync(abs, { throwIfNoEntry: false });
      } catch {
        st = undefined;
      }
      if (!st)
        throw new PeftError('E_INPUT_MISSING', `${stage}: input "${pattern}" does not exist`, {
          hint: 'create it, fix the path, or declare the stage that writes it as an output',
        });
      if (st.isDirectory()) await walk(abs, found, links, stamps);
      else {
        found.push(abs);
        stamps?.set(abs, stampOf(st));
        links.add(abs); // named directly: checked whole (it may itself be a link)
      }
    }
    // A project input (a relative pattern) must really be inside the project: a symlink out of it is refused.
    const confined = !isAbsolute(pattern);
    for (const f of found)
      if (!excluded(f)) {
        if (confined) links.has(f) ? checkInputInside(stage, baseDir, f) : checkWalkedFileInside(stage, baseDir, f, realDirs);
        files.add(f);
      }
  }
  return [...files].sort();
}
