// Finds the Hugging Face model directory behind a model stage's artifact: `model.json` {"dir": "..."} when the
// artifact points elsewhere (a local model or the HF cache), else the artifact directory itself. `dir` is relative to
// the artifact (a random-init model inside it), {"project": "..."} relative to the project, or absolute (outside it).
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { PeftError } from '../../src/errors.ts';
import { resolvePortable } from '../../src/util/portable-path.ts';

export function modelDirOf(artifactDir: string): string {
  const pointer = join(artifactDir, 'model.json');
  if (!existsSync(pointer)) return artifactDir;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(pointer, 'utf8'));
  } catch (err) {
    throw new PeftError('E_MODEL', `${pointer}: not valid JSON (${(err as Error).message})`, { file: pointer });
  }
  const project = (parsed as { project?: unknown })?.project;
  if (typeof project === 'string' && project !== '') return resolvePortable(artifactDir, project);
  const dir = (parsed as { dir?: unknown })?.dir;
  if (typeof dir !== 'string' || dir === '')
    throw new PeftError('E_MODEL', `${pointer}: expected {"dir": "<model directory>"}`, { file: pointer, pointer: '/dir' });
  return isAbsolute(dir) ? dir : resolve(artifactDir, dir);
}
