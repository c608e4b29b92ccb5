// The build lock: artifacts/build.lock records pid, host and start time. A second build waits or refuses with a
// clear message; a lock whose process is dead (same host) is detected and cleared.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { PeftError } from '../errors.ts';
import type { StoreLayout } from './layout.ts';

export interface LockInfo {
  pid: number;
  host: string;
  startedAt: string;
  command: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readLock(path: string): LockInfo | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
  } catch {
    return undefined;
  }
}

export interface Lock {
  release(): void;
  /** Set when a stale lock of a dead process was cleared on the way in. */
  clearedStale?: LockInfo;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function acquireLock(layout: StoreLayout, opts: { command: string; waitSeconds?: number; signal?: AbortSignal }): Promise<Lock> {
  const path = layout.lock;
  mkdirSync(dirname(path), { recursive: true });
  const deadline = Date.now() + (opts.waitSeconds ?? 0) * 1000;
  let clearedStale: LockInfo | undefined;
  while (true) {
    try {
      const fd = openSync(path, 'wx');
      const info: LockInfo = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString(), command: opts.command };
      writeSync(fd, JSON.stringify(info));
      closeSync(fd);
      let released = false;
      return {
        clearedStale,
        release() {
          if (released) return;
          released = true;
          const cur = readLock(path);
          if (cur && cur.pid === process.pid && cur.host === info.host) rmSync(path, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const holder = readLock(path);
    if (!holder) {
      // Being written right now, or garbage left by a crash mid-write: give it a moment, then clear it.
      await sleep(50);
      const again = readLock(path);
      if (!again) {
        rmSync(path, { force: true });
        continue;
      }
      continue;
    }
    if (holder.host === hostname() && !alive(holder.pid)) {
      clearedStale = holder;
      rmSync(path, { force: true });
      continue;
    }
    if (opts.signal?.aborted) throw new PeftError('E_CANCELLED', 'interrupted while waiting for the build lock');
    if (Date.now() >= deadline) {
      throw new PeftError(
        'E_LOCKED',
        `another build holds the lock: pid ${holder.pid} on ${holder.host}, started ${holder.startedAt} (${holder.command})`,
        { file: path, hint: 'wait for it to finish, or pass --wait SECONDS to queue behind it' },
      );
    }
    await sleep(200);
  }
}

/** Who holds the build lock now, without taking it: undefined when it is free or held by a dead process on this host. */
export function lockHolder(layout: StoreLayout): LockInfo | undefined {
  const holder = readLock(layout.lock);
  if (!holder) return undefined;
  return holder.host === hostname() && !alive(holder.pid) ? undefined : holder;
}
