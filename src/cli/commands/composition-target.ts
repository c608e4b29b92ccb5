// `--composition NAME [--disable ADAPTER]...` for generate and score: finds the composition's current version in the
// store (artifacts/refs), turns it into the base model directory and the adapter stack (DIR:WEIGHT) to load, and
// renders a generate prompt in the format its adapters were trained on (stages/composition/inference-prompt.ts); also
// the --model/--adapter/--quant options both declare.
import { join } from 'node:path';
import { PeftError } from '../../errors.ts';
import { StoreLayout } from '../../store/layout.ts';
import { currentVersion, readRef } from '../../store/refs.ts';
import { runtimeAdapters } from '../../../stages/composition/composition-file.ts';
import { compositionPrompt, renderInferencePrompt } from '../../../stages/composition/inference-prompt.ts';

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
  const { dir, objectsDir } = compositionArtifact(a.composition, a.project ?? cwd);
  const { file, adapters } = runtimeAdapters(dir, { disable: a.disable, objectsDir });
  return { ...a, model: file.base.modelDir, adapter: adapters.map((x) => `${x.dir}:${x.weight}`) };
}

/** The artifact directory of the current version of `compositions.NAME` in the project's store. */
function compositionArtifact(composition: string, project: string): { dir: string; objectsDir: string } {
  const name = composition.replace(/^compositions\./, '');
  const layout = new StoreLayout(project);
  const stage = `compositions.${name}`;
  const cur = currentVersion(readRef(layout, stage));
  if (!cur)
    throw new PeftError('E_NOT_FOUND', `composition "${name}" has not been built in ${layout.root}`, { hint: `run \`peftmake build ${stage}\` first` });
  return { dir: layout.object(cur.key), objectsDir: join(layout.root, 'objects') };
}

export const compositionOptions = {
  composition: { type: 'string', describe: 'use a built composition (base + its adapters) from pipeline.json' },
  disable: { type: 'string', array: true, describe: 'with --composition: switch this adapter off (repeatable)' },
  project: { type: 'string', describe: 'project directory holding artifacts/ (default: the current directory)' },
} as const;

/**
 * With --composition the prompt is a user turn rendered with the chat template its enabled adapters were trained with
 * (else the base's), undefined where that format has none; warnings go to `warn`. `bos` says whether the tokenizer
 * should still add BOS (false when the template already wrote it).
 */
export function compositionPromptText(a: CompositionArgs & { composition: string }, modelDir: string, prompt: string, warn: (line: string) => void, cwd = process.cwd()): { text: string; bos: boolean } | undefined {
  const { dir, objectsDir } = compositionArtifact(a.composition, a.project ?? cwd);
  const format = compositionPrompt(dir, { disable: a.disable, objectsDir });
  for (const w of format.warnings) warn(`warning: ${w}`);
  return renderInferencePrompt(format, modelDir, prompt);
}

export const rawOption = { type: 'boolean', describe: 'with --composition: use the prompt as is, without the chat template its adapters were trained with' } as const;

/** --model, --adapter and --quant as generate and score declare them. */
export const modelOption = { type: 'string', describe: 'Hugging Face model directory (or --composition)' } as const;
export const adapterOption = { type: 'string', array: true, describe: 'PEFT adapter directory, optionally DIR:SCALE (repeatable, stacked)' } as const;
export const quantOption = { type: 'string', choices: ['nf4', 'none'], describe: 'frozen weight storage (default none)' } as const;
