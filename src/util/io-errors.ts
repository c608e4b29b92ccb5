// Turns operating-system write errors (a full disk, a quota, a read-only filesystem) into PeftErrors that name the
// path being written and the fix; anything else is returned unchanged.
import { dirname } from 'node:path';
import { PeftError } from '../errors.ts';

const DISK: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'the filesystem is read-only',
  EIO: 'an input/output error',
};

export function ioError(e: unknown, what?: string): unknown {
  const err = e as NodeJS.ErrnoException;
  const why = err && typeof err.code === 'string' ? DISK[err.code] : undefined;
  if (!why || e instanceof PeftError) return e;
  const path = err.path ?? (err as { dest?: string }).dest;
  const where = path ? ` writing ${path}` : '';
  const fix =
    err.code === 'EROFS'
      ? 'make that location writable, or move the project'
      : err.code === 'EIO'
        ? 'check the disk (dmesg), then build again: nothing partial was committed'
        : `free space on that filesystem (\`df -h ${path ? dirname(path) : '.'}\`; \`peftmake gc\` removes old artifacts), then build again: nothing partial was committed`;
  return new PeftError('E_IO', `${what ? `${what}: ` : ''}${why} (${err.code})${where}`, { file: path, hint: fix });
}
