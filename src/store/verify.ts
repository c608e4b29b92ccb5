// Verifying committed objects: each manifest.json lists every file of its object (path, size, sha256). A cheap check
// (manifest readable and of this key, the file list exact, sizes equal, hashes through the stat-keyed cache) runs on
// every status / build; a full one (every byte re-hashed) on `build --verify`, rollback and `fsck`.
import { createHash } from 'node:crypto';
import { closeSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PeftError } from '../errors.ts';
import { type FileStamp, stampOf, type HashCache } from '../hash/hash-cache.ts';
import { ENTRY_DIR, ENTRY_FILE, nativeScanDir, stampAt } from '../hash/scan-dir.ts';
import type { StageManifest } from '../stage.ts';
import type { StoreLayout } from './layout.ts';
import { readManifest } from './objects.ts';

export interface ObjectFile {
  path: string; // relative to the object directory, POSIX
  size: number;
  sha256: string;
}

export interface VerifyResult {
  /** `missing`: no object directory at all; `corrupt`: there is one, but it is not what was committed. */
  state: 'ok' | 'missing' | 'corrupt' | 'unverified';
  problems: string[];
  manifest?: StageManifest;
}

/** SHA-256 of a file, read in 1 MiB chunks (synchronous: verification runs before anything is served). */
export function sha256FileSync(path: string): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let n: number; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

function cachedSha(abs: string, cache: HashCache, stamp: FileStamp): string {
  const hit = cache.get(abs, stamp);
  if (hit) return hit;
  const sha = sha256FileSync(abs);
  cache.set(abs, stamp, sha);
  return sha;
}

/** Files of an object directory, relative and sorted (manifest.json excluded). */
export function listObjectFiles(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listObjectFiles(join(dir, e.name), rel));
    else if (rel !== 'manifest.json') out.push(rel);
  }
  return out.sort();
}

/**
 * Files of an object directory (relative, manifest.json excluded) with their stamps, one folder scan each through the
 * peft_fs addon; without it, listObjectFiles and a stat per file. Throws where a folder cannot be read.
 */
function objectFileStamps(dir: string): Map<string, FileStamp | undefined> {
  const out = new Map<string, FileStamp | undefined>();
  const scan = nativeScanDir();
  if (!scan) {
    for (const p of listObjectFiles(dir)) out.set(p, undefined);
    return out;
  }
  const walk = (d: string, prefix: string): void => {
    const r = scan(d);
    if (!r) throw new Error(`cannot read ${d}`);
    for (let i = 0; i < r.names.length; i++) {
      const rel = prefix ? `${prefix}/${r.names[i]}` : r.names[i];
      if (r.kinds[i] === ENTRY_DIR) walk(`${d}/${r.names[i]}`, rel);
      else if (rel !== 'manifest.json') out.set(rel, r.kinds[i] === ENTRY_FILE ? stampAt(r, i) : undefined);
    }
  };
  walk(dir, '');
  return out;
}

/** The file records a manifest carries, computed from a finished stage's output directory. */
export function hashObjectFiles(dir: string): ObjectFile[] {
  return listObjectFiles(dir).map((path) => ({ path, size: statSync(join(dir, path)).size, sha256: sha256FileSync(join(dir, path)) }));
}

/**
 * Checks one committed object. `full` re-hashes every byte; otherwise hashes go through `cache` (a file whose size,
 * inode, mtime and ctime are unchanged since it was last hashed is not re-read). Objects committed before file hashes were
 * recorded are `unverified` (usable; `fsck` says so).
 */
export function verifyObject(
  layout: StoreLayout,
  key: string,
  opts: { full?: boolean; cache?: HashCache; manifest?: (key: string) => StageManifest | undefined } = {},
): VerifyResult {
  const dir = layout.object(key);
  let found: Map<string, FileStamp | undefined>;
  try {
    found = objectFileStamps(dir);
  } catch {
    return { state: 'missing', problems: [`object ${key.slice(0, 12)} is not in the store`] };
  }
  const manifest = opts.manifest ? opts.manifest(key) : readManifest(layout, key);
  if (!manifest) return { state: 'corrupt', problems: [`${layout.manifest(key)} is missing or not valid JSON`] };
  if (manifest.key !== key)
    return { state: 'corrupt', problems: [`${layout.manifest(key)} records key ${String(manifest.key).slice(0, 12)}, not ${key.slice(0, 12)}`], manifest };
  if (!Array.isArray(manifest.files)) {
    // Committed by an older peftmake: only the captured workspace outputs (outs/<path>) have recorded hashes.
    const problems: string[] = [];
    for (const o of manifest.outputs ?? []) {
      const abs = join(dir, 'outs', o.path);
      if (!found.has(`outs/${o.path}`)) problems.push(`${abs}: missing`);
      else if ((opts.full || !opts.cache ? sha256FileSync(abs) : cachedSha(abs, opts.cache, stampOf(statSync(abs)))) !== o.sha256)
        problems.push(`${abs}: content differs from the output hash recorded at commit`);
    }
    return { state: problems.length ? 'corrupt' : 'unverified', problems, manifest };
  }
  const problems: string[] = [];
  const want = new Map(manifest.files.map((f) => [f.path, f]));
  for (const p of [...found.keys()].sort()) if (!want.has(p)) problems.push(`${join(dir, p)}: not part of the committed artifact`);
  for (const f of manifest.files) {
    const abs = join(dir, f.path);
    let st: FileStamp | undefined = found.get(f.path);
    if (!st)
      try {
        st = stampOf(statSync(abs));
      } catch {
        problems.push(`${abs}: missing`);
        continue;
      }
    if (st.size !== f.size) {
      problems.push(`${abs}: ${st.size} bytes, the manifest records ${f.size}`);
      continue;
    }
    const sha = opts.full || !opts.cache ? sha256FileSync(abs) : cachedSha(abs, opts.cache, st);
    if (sha !== f.sha256) problems.push(`${abs}: content differs from the sha256 recorded at commit`);
  }
  return { state: problems.length ? 'corrupt' : 'ok', problems, manifest };
}

/** Full verification before an object is served, exported or rolled back to: a damaged one is an E_STORE error. */
export function requireIntact(layout: StoreLayout, key: string, what: string, fix = 'run `peftmake build` to rebuild it'): StageManifest {
  const r = verifyObject(layout, key, { full: true });
  if (r.state === 'ok' || r.state === 'unverified') return r.manifest!;
  const more = r.problems.length > 1 ? ` (and ${r.problems.length - 1} more)` : '';
  throw new PeftError('E_STORE', `${what} is ${r.state === 'missing' ? 'missing from' : 'corrupt in'} the store: ${r.problems[0]}${more}`, {
    hint: `${fix}; \`peftmake fsck\` lists every damaged object`,
    problems: r.problems,
  });
}
