// Committed artifacts: artifacts/objects/<key>/ (stage outputs + manifest.json), committed by renaming a temp dir.
import { existsSync, mkdirSync, readFileSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { PeftError } from '../errors.ts';
import { faultPoint } from '../util/fault.ts';
import type { StageManifest } from '../stage.ts';
import type { StoreLayout } from './layout.ts';

export function hasObject(layout: StoreLayout, key: string): boolean {
  return existsSync(layout.manifest(key));
}

export function readManifest(layout: StoreLayout, key: string): StageManifest | undefined {
  try {
    return JSON.parse(readFileSync(layout.manifest(key), 'utf8')) as StageManifest;
  } catch {
    return undefined;
  }
}

export function requireManifest(layout: StoreLayout, key: string, stage: string): StageManifest {
  const m = readManifest(layout, key);
  if (!m) throw new PeftError('E_STORE', `${stage}: artifact ${key.slice(0, 12)} is missing from the store`, { hint: 'run `peftmake build` to rebuild it' });
  return m;
}

/** A fresh temp directory for one stage run, inside the store so the commit is a same-filesystem rename. */
export function makeTempDir(layout: StoreLayout, stage: string): string {
  const dir = join(layout.tmp, `${stage}-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * Atomically moves a finished temp dir into place. An object already under the key is one the plan found corrupt or
 * incomplete (an intact one is never rebuilt): it is moved aside first and dropped after.
 */
export function commitObject(layout: StoreLayout, tempDir: string, key: string): void {
  mkdirSync(layout.objects, { recursive: true });
  const target = layout.object(key);
  let aside: string | undefined;
  if (existsSync(target)) {
    aside = join(layout.tmp, `replaced-${key.slice(0, 12)}-${randomBytes(4).toString('hex')}`);
    renameSync(target, aside);
  }
  faultPoint('commit.rename', target);
  renameSync(tempDir, target);
  if (aside) rmSync(aside, { recursive: true, force: true });
}

/** Removes temp dirs left by interrupted builds (only call while holding the build lock). */
export function cleanTemp(layout: StoreLayout): void {
  rmSync(layout.tmp, { recursive: true, force: true });
}

/** Removes a stage's resume folder for `key` (and the stage's resume root) when nothing was written into it. */
export function dropEmptyResume(layout: StoreLayout, stage: string, key: string): void {
  for (const d of [layout.resume(stage, key), layout.resumeRoot(stage)])
    try {
      rmdirSync(d);
    } catch {
      // not empty (a checkpoint to resume from), or already gone
    }
}
