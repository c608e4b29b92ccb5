// Hashes a stage's declared inputs (project files, dirs, globs and external paths) into a sorted manifest,
// and a stage's workspace outputs, both through the stat-keyed hash cache.
import { relative, resolve, isAbsolute, sep } from 'node:path';
import { expandInputs } from './expand.ts';
import { hashFilesCached } from './file-hash.ts';
import type { FileStamp, HashCache } from './hash-cache.ts';

export interface FileRecord {
  path: string; // project-relative POSIX path, or absolute for inputs outside the project
  sha256: string;
  size: number;
}

/** What hashing needs of a stage (config's StageEntry has these fields): its name for messages, its files and outputs. */
export interface HashedStage {
  name: string;
  files: readonly string[];
  excludes: readonly string[];
  outputs: readonly string[];
  deps: { externalFiles?: readonly string[] };
}

const HASH_CONCURRENCY = 16;

function display(projectDir: string, abs: string): string {
  // Expanded paths are normalized: below the project their relative path is the rest of the string.
  if (abs.length > projectDir.length + 1 && abs.startsWith(projectDir) && abs[projectDir.length] === sep) {
    const rel = abs.slice(projectDir.length + 1);
    return sep === '/' ? rel : rel.split(sep).join('/');
  }
  const rel = relative(projectDir, abs);
  if (rel.startsWith('..') || isAbsolute(rel)) return abs;
  return sep === '/' ? rel : rel.split(sep).join('/');
}

/** `stamps`: stats already taken (by the expansion's folder scans); the other files are stat'ed here. */
export async function hashFiles(
  projectDir: string,
  absFiles: readonly string[],
  cache: HashCache,
  stamps?: ReadonlyMap<string, FileStamp>,
): Promise<FileRecord[]> {
  const hashes = await hashFilesCached(absFiles, cache, HASH_CONCURRENCY, stamps);
  return absFiles.map((f, i) => ({ path: display(projectDir, f), sha256: hashes[i].sha256, size: hashes[i].size }));
}

export async function hashStageInputs(entry: HashedStage, projectDir: string, cache: HashCache): Promise<FileRecord[]> {
  const stamps = new Map<string, FileStamp>();
  const project = await expandInputs(entry.name, projectDir, entry.files, entry.excludes, stamps);
  const external = entry.deps.externalFiles?.length
    ? await expandInputs(
        entry.name,
        projectDir,
        entry.deps.externalFiles.map((p) => resolve(projectDir, p)),
        [],
        stamps,
      )
    : [];
  const all = external.length ? [...new Set([...project, ...external])].sort() : project;
  return hashFiles(projectDir, all, cache, stamps);
}

/** Hashes workspace outputs; a missing output yields no records for it. */
export async function hashOutputs(entry: HashedStage, projectDir: string, cache: HashCache): Promise<FileRecord[]> {
  const files: string[] = [];
  const stamps = new Map<string, FileStamp>();
  for (const o of entry.outputs) {
    try {
      files.push(...(await expandInputs(entry.name, projectDir, [o], [], stamps)));
    } catch {
      // missing: reported by the caller by comparing with the manifest
    }
  }
  return hashFiles(projectDir, [...new Set(files)].sort(), cache, stamps);
}
