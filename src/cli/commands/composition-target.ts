// `--composition NAME [--disable ADAPTER]...` for generate and score: finds the composition's current version in the
// store (artifacts/refs), and turns it into the base model directory and the adapter stack (DIR:WEIGHT) to load.
import { join } from 'node:path';
import { PeftError } from '../../errors.ts';
import { StoreLayout } from '../../store/layout.ts';
import { currentVersion, readRef } from '../../store/refs.ts';
import { runtimeAdapters } from '../../../stages/composition/composition-file.ts';

export interface CompositionArgs {
  model?: string;
  adapter?: string[];
  composition?: string;
  disable?: string[];
  project?: string;
}

/** Resolves --composition into --model and --adapter; without it, checks that --model is given. */
export function applyComposition<A extends CompositionArgs>(a: A, cwd = process.cwd()): A & { model: string } {
  if (a.composition === undefined) {
    if (a.disable?.length) throw new PeftError('E_USAGE', '--disable needs --composition NAME');
    if (!a.model) throw new PeftError('E_USAGE', 'give --model DIR (with --adapter DIR[:SCALE]...) or --composition NAME');
    return a as A & { model: string };
  }
  if (a.model || a.adapter?.length) throw new PeftError('E_USAGE', '--composition names the model and adapters itself; drop --model / --adapter');
  const name = a.composition.replace(/^compositions\./, '');
  const layout = new StoreLayout(a.project ?? cwd);
  const stage = `compositions.${name}`;
  const cur = currentVersion(readRef(layout, stage));
  if (!cur)
    throw new PeftError('E_NOT_FOUND', `composition "${name}" has not been built in ${layout.root}`, { hint: `run \`peftmake build ${stage}\` first` });
  const dir = layout.object(cur.key);
  const { file, adapters } = runtimeAdapters(dir, { disable: a.disable, objectsDir: join(layout.root, 'objects') });
  return { ...a, model: file.base.modelDir, adapter: adapters.map((x) => `${x.dir}:${x.weight}`) };
}

export const compositionOptions = {
  composition: { type: 'string', describe: 'use a built composition (base + its adapters) from pipeline.json' },
  disable: { type: 'string', array: true, describe: 'with --composition: switch this adapter off (repeatable)' },
  project: { type: 'string', describe: 'project directory holding artifacts/ (default: the current directory)' },
} as const;
