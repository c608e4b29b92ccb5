// The build lock: artifacts/build.lock records pid, the pid's start time, boot id, host and command. It is created
// whole in one step (written beside, then hard-linked into place: two racers cannot both win), and a stale one (its
// process gone, or the pid reused by another process, or written before a reboot) is cleared only under a short
// "break" lock, so two builds clearing it at once cannot both go on. Another host's lock is never guessed at: the
// error gives the exact command to clear it. --wait polls until the lock frees or the timeout passes.
import { linkSync, mkdirSync, openSync, closeSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { PeftError } from '../errors.ts';
import { faultPoint } from '../util/fault.ts';
import type { StoreLayout } from './layout.ts';

export interface LockInfo {
  pid: number;
  host: string;
  startedAt: string;
  command: string;
  /** The pid's start time in clock ticks since boot (/proc/<pid>/stat field 22): tells a reused pid apart. */
  pidStart?: number;
  bootId?: string;
}

/** A process's start time in clock ticks since boot (Linux), or undefined where /proc does not say. */
export function processStart(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // field 3 onwards (the name may hold spaces)
    const v = Number(fields[19]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function bootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseLock(text: string): LockInfo | undefined {
  try {
    const v = JSON.parse(text) as LockInfo;
    return typeof v?.pid === 'number' && typeof v.host === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Why a same-host lock is stale, or undefined while its process may still be the build that wrote it. */
function staleReason(h: LockInfo): string | undefined {
  const boot = bootId();
  if (h.bootId && boot && h.bootId !== boot) return 'written before this machine rebooted';
  if (!alive(h.pid)) return 'its process is gone';
  const start = processStart(h.pid);
  if (h.pidStart !== undefined && start !== undefined && start !== h.pidStart) return `pid ${h.pid} is now another process`;
  return undefined;
}

export interface Lock {
  release(): void;
  /** Set when a stale lock was cleared on the way in, with why it was stale. */
  clearedStale?: LockInfo & { reason: string };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** A break lock older than this is itself left by a crash (clearing takes milliseconds). */
const BREAK_STALE_MS = 10_000;

/** Creates `path` holding `text` in one step: EEXIST when it exists (no reader ever sees it half-written). */
function createWhole(path: string, text: string): boolean {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, text);
  try {
    linkSync(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Clears the lock if it is still `seen` (stale) — under the break lock, so only one process clears it. */
function clearStale(path: string, seen: string): 'cleared' | 'busy' | 'changed' {
  const breakPath = `${path}.break`;
  let fd: number;
  try {
    fd = openSync(breakPath, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    try {
      if (Date.now() - statSync(breakPath).mtimeMs > BREAK_STALE_MS) rmSync(breakPath, { force: true });
    } catch {
      // gone meanwhile
    }
    return 'busy';
  }
  closeSync(fd);
  try {
    let now: string | undefined;
    try {
      now = readFileSync(path, 'utf8');
    } catch {
      return 'changed';
    }
    if (now !== seen) return 'changed';
    faultPoint('lock.clear-stale', path);
    unlinkSync(path);
    return 'cleared';
  } finally {
    rmSync(breakPath, { force: true });
  }
}

export async function acquireLock(layout: StoreLayout, opts: { command: string; waitSeconds?: number; signal?: AbortSignal }): Promise<Lock> {
  const path = layout.lock;
  mkdirSync(dirname(path), { recursive: true });
  const wait = opts.waitSeconds ?? 0;
  const deadline = Date.now() + wait * 1000;
  const me: LockInfo = {
    pid: process.pid,
    host: hostname(),
    startedAt: new Date().toISOString(),
    command: opts.command,
    pidStart: processStart(process.pid),
    bootId: bootId(),
  };
  const text = JSON.stringify(me);
  let clearedStale: (LockInfo & { reason: string }) | undefined;
  while (true) {
    if (createWhole(path, text)) {
      faultPoint('lock.acquired', path);
      let released = false;
      return {
        clearedStale,
        release() {
          if (released) return;
          released = true;
          try {
            if (readFileSync(path, 'utf8') === text) unlinkSync(path);
          } catch {
            // already gone
          }
        },
      };
    }
    let seen: string;
    try {
      seen = readFileSync(path, 'utf8');
    } catch {
      continue; // released between our attempt and the read: try again
    }
    const parsed = parseLock(seen);
    let why: string | undefined;
    if (!parsed) {
      // Not a lock this version writes (it is always created whole): garbage, cleared once it is a few seconds old.
      try {
        why = Date.now() - statSync(path).mtimeMs > 2000 ? 'unreadable' : undefined;
      } catch {
        continue;
      }
    } else if (parsed.host === hostname()) why = staleReason(parsed);
    if (why) {
      const r = clearStale(path, seen);
      if (r === 'cleared') {
        clearedStale = { ...(parsed ?? { pid: 0, host: '?', startedAt: '?', command: '?' }), reason: why };
        continue;
      }
      if (r === 'changed') continue;
      await sleep(50); // another process is clearing it right now
      continue;
    }
    if (opts.signal?.aborted) throw new PeftError('E_CANCELLED', 'interrupted while waiting for the build lock');
    if (Date.now() >= deadline) {
      if (!parsed) continue;
      if (parsed.host !== hostname())
        throw new PeftError(
          'E_LOCKED',
          `the build lock is held by pid ${parsed.pid} on host ${parsed.host} (this is ${hostname()}), started ${parsed.startedAt} (${parsed.command})`,
          {
            file: path,
            hint: `if that build is still running, wait for it; if no build is running there (a restarted container, say), clear it with: rm '${path}'`,
          },
        );
      throw new PeftError(
        'E_LOCKED',
        `another build holds the lock: pid ${parsed.pid} on ${parsed.host}, started ${parsed.startedAt} (${parsed.command})${wait > 0 ? ` (still held after waiting ${wait} s)` : ''}`,
        { file: path, hint: 'wait for it to finish, or pass --wait SECONDS to queue behind it' },
      );
    }
    await sleep(200);
  }
}

/** Who holds the build lock now, without taking it: undefined when it is free or held by a dead process on this host. */
export function lockHolder(layout: StoreLayout): LockInfo | undefined {
  let holder: LockInfo | undefined;
  try {
    holder = parseLock(readFileSync(layout.lock, 'utf8'));
  } catch {
    return undefined;
  }
  if (!holder) return undefined;
  return holder.host === hostname() && staleReason(holder) ? undefined : holder;
}
