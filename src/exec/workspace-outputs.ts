// Moves workspace outputs (command `outs`, export dirs) between the project and an artifact's `outs/` folder.
import { constants, cpSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { PeftError } from '../errors.ts';
import type { StageEntry } from '../config/types.ts';
import { checkOutputInside } from '../util/confine.ts';

export const OUTS_DIR = 'outs';

/** Deletes the declared outputs in the workspace (before a command runs, so stale files cannot pass as new). */
export function clearOutputs(entry: StageEntry, projectDir: string): void {
  for (const o of entry.outputs) checkOutputInside(entry.name, projectDir, o); // all checked before any is touched
  for (const o of entry.outputs) rmSync(resolve(projectDir, o), { recursive: true, force: true });
}

/** Copies declared outputs from the workspace into `<artifactDir>/outs/`; each must exist. */
export function captureOutputs(entry: StageEntry, projectDir: string, artifactDir: string): void {
  for (const o of entry.outputs) {
    checkOutputInside(entry.name, projectDir, o);
    const src = resolve(projectDir, o);
    if (!existsSync(src))
      throw new PeftError('E_STAGE_FAILED', `${entry.name}: declared output "${o}" was not created`, {
        hint: 'make the command write it, or remove it from `outs`',
      });
    const dst = join(artifactDir, OUTS_DIR, o);
    mkdirSync(dirname(dst), { recursive: true });
    cpSync(src, dst, { recursive: true, mode: constants.COPYFILE_FICLONE, preserveTimestamps: true });
  }
}

/** Restores the captured outputs from the artifact's `outs/` into the workspace. */
export function materializeOutputs(entry: StageEntry, projectDir: string, artifactDir: string): void {
  clearOutputs(entry, projectDir);
  for (const o of entry.outputs) {
    const src = join(artifactDir, OUTS_DIR, o);
    if (!existsSync(src)) continue;
    const dst = resolve(projectDir, o);
    mkdirSync(dirname(dst), { recursive: true });
    cpSync(src, dst, { recursive: true, mode: constants.COPYFILE_FICLONE });
  }
}
