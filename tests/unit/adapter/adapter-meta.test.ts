// adapter.json records the base model's directory project-relative (a copied project reads its own model); whoever
// reads it (serve's adapter-alone models, exports without a model upstream) gets an absolute path under the object's
// project, whatever the process's working directory is.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ADAPTER_META, readAdapterMeta } from '../../../stages/shared/adapter-artifact.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

function artifactWith(project: string, modelDir: string): string {
  const dir = join(project, 'artifacts', 'objects', 'k1');
  mkdirSync(dir, { recursive: true });
  const meta = { name: 'a', base: { name: 'base', key: 'k0', modelDir }, data: { name: 'd', key: 'kd' }, stack: [], objective: 'causal-lm', params: {} };
  writeFileSync(join(dir, ADAPTER_META), JSON.stringify(meta));
  return dir;
}

describe('readAdapterMeta', () => {
  it('resolves a project-relative base model directory against the object’s project, not the working directory', () => {
    const project = tempDir('adapter-meta-');
    const dir = artifactWith(project, 'artifacts/objects/k0/model');
    expect(readAdapterMeta(dir).base.modelDir).toBe(join(project, 'artifacts', 'objects', 'k0', 'model'));
  });

  it('keeps an absolute directory (a model outside the project) as it is', () => {
    const project = tempDir('adapter-meta-');
    expect(readAdapterMeta(artifactWith(project, '/models/outside')).base.modelDir).toBe('/models/outside');
  });
});
