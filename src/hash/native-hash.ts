// SHA-256 of whole files through the peft_fs addon (native/src/fs_addon/hash_files.cc): on several libuv pool
// threads taking files from one counter, with no promise or buffer per file. Used for first hashes where it is built.
import { availableParallelism } from 'node:os';
import { getSystemErrorMap } from 'node:util';
import { fsAddon } from './scan-dir.ts';

/** True where the addon with hashFiles is built (and not turned off). */
export function nativeHashAvailable(): boolean {
  return typeof fsAddon()?.hashFiles === 'function';
}

/** Threads a batch of `files` gets: one per core, at most 4 (libuv's pool), never more than the files. */
export function nativeHashThreads(files: number): number {
  return Math.max(1, Math.min(files, availableParallelism(), 4));
}

/** The error fs would throw for `errno` from `syscall` on `path` (code, errno, syscall, path, message). */
function systemError(errno: number, syscall: string, path: string): NodeJS.ErrnoException {
  const [code, description] = getSystemErrorMap().get(-errno) ?? [`E${errno}`, 'unknown error'];
  return Object.assign(new Error(`${code}: ${description}, ${syscall} '${path}'`), { code, errno: -errno, syscall, path });
}

/** SHA-256 (hex) of each path, in order; rejects with the first path's open or read error, as fs would word it. */
export async function sha256Native(paths: readonly string[], threads = nativeHashThreads(paths.length)): Promise<string[]> {
  const hash = fsAddon()?.hashFiles;
  if (!hash) throw new Error('sha256Native: the peft_fs addon is not built');
  if (paths.length === 0) return [];
  const r = await hash([...paths], threads);
  const out = new Array<string>(paths.length);
  for (let i = 0; i < paths.length; i++) {
    if (r.errnos[i] !== 0) throw systemError(r.errnos[i], r.stages[i] === 0 ? 'open' : 'read', paths[i]);
    out[i] = r.shas.toString('hex', i * 32, i * 32 + 32);
  }
  return out;
}
