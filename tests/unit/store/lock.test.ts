// The build lock: a live holder refuses, a dead one is cleared, release frees it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquireLock } from '../../../src/store/lock.ts';
import { StoreLayout } from '../../../src/store/layout.ts';

describe('build lock', () => {
  it('refuses a live lock, clears a dead one, and releases', async () => {
    const d = mkdtempSync(join(tmpdir(), 'peftmake-unit-'));
    try {
      const layout = new StoreLayout(d);
      const a = await acquireLock(layout, { command: 'build' });
      await expect(acquireLock(layout, { command: 'build' })).rejects.toMatchObject({ code: 'E_LOCKED' });
      a.release();
      writeFileSync(layout.lock, JSON.stringify({ pid: 4_000_000, host: hostname(), startedAt: 'then', command: 'build' }));
      const b = await acquireLock(layout, { command: 'gc' });
      expect(b.clearedStale).toMatchObject({ pid: 4_000_000 });
      b.release();
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
