// composition.json, the artifact of a composition stage: the base model and the adapters (store keys, dirs, weights)
// stacked at runtime, or the one merged adapter; and how generate / score / evals load it (with adapters disabled).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PeftError } from '../../src/errors.ts';
import { resolvePortable } from '../../src/util/portable-path.ts';

export const COMPOSITION_FILE = 'composition.json';

export interface ComposedAdapter {
  name: string;
  key: string;
  version: number;
  dir: string; // artifact dir, written project-relative (artifacts/objects/<key>); absolute once read
  weight: number;
}

export interface CompositionFile {
  name: string;
  method: string;
  base: { name: string; key: string; modelDir: string }; // written project-relative inside the project; absolute once read
  adapters: ComposedAdapter[];
  /** Merged methods: the merged adapter, relative to the composition artifact. */
  merged?: { dir: string; r: number; method: string };
}

export interface RuntimeAdapter {
  name: string;
  dir: string;
  weight: number;
}

export function readCompositionFile(artifactDir: string): CompositionFile {
  const f = join(artifactDir, COMPOSITION_FILE);
  if (!existsSync(f)) throw new PeftError('E_STORE', `${artifactDir}: no ${COMPOSITION_FILE} (not a composition artifact)`, { file: f });
  try {
    const file = JSON.parse(readFileSync(f, 'utf8')) as CompositionFile;
    // Paths are stored project-relative (a copied project reads its own store): resolved here for every reader.
    return {
      ...file,
      base: { ...file.base, modelDir: resolvePortable(artifactDir, file.base.modelDir) },
      adapters: file.adapters.map((a) => ({ ...a, dir: resolvePortable(artifactDir, a.dir) })),
    };
  } catch (err) {
    throw new PeftError('E_STORE', `${f}: not valid JSON (${(err as Error).message})`, { file: f });
  }
}

/**
 * The adapters to apply at inference for a composition artifact. `disable` switches adapters off by name (stack
 * compositions only: a merged adapter cannot be taken apart). `objectsDir` (artifacts/objects) re-roots adapter dirs.
 */
export function runtimeAdapters(
  artifactDir: string,
  opts: { disable?: string[]; objectsDir?: string } = {},
): { file: CompositionFile; adapters: RuntimeAdapter[] } {
  const file = readCompositionFile(artifactDir);
  const disable = opts.disable ?? [];
  const names = file.adapters.map((a) => a.name);
  for (const d of disable)
    if (!names.includes(d)) throw new PeftError('E_USAGE', `--disable ${d}: composition ${file.name} has no adapter "${d}" (it has ${names.join(', ')})`);
  if (file.merged) {
    if (disable.length)
      throw new PeftError(
        'E_USAGE',
        `--disable: composition ${file.name} is merged with "${file.method}" into one adapter; only "stack" compositions can switch adapters off`,
        {
          hint: 'use method "stack" for runtime switching',
        },
      );
    return { file, adapters: [{ name: file.name, dir: join(artifactDir, file.merged.dir), weight: 1 }] };
  }
  const adapters = file.adapters
    .filter((a) => !disable.includes(a.name))
    .map((a) => {
      const inStore = opts.objectsDir ? join(opts.objectsDir, a.key) : undefined;
      return { name: a.name, dir: inStore && existsSync(inStore) ? inStore : a.dir, weight: a.weight };
    });
  return { file, adapters };
}
