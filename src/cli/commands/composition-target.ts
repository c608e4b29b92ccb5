// `--composition NAME [--disable ADAPTER]...` for generate and score: finds the composition's current version in the
// store (artifacts/refs) and asks the composition kind (stage contract: inferenceStack) for the base model directory and
// the adapter stack (DIR:WEIGHT) to load and the prompt format its adapters were trained on, and renders a generate
// prompt in that format; also the --model/--adapter/--quant options both declare.
import { inferenceChatText, type InferencePrompt } from '../../hf/prompt-format.ts';
import { existsSync } from 'node:fs';
import { isAbsolute, relative, sep } from 'node:path';
import type { ModelTokenizer } from '../../hf/tokenizer.ts';
import { PeftError } from '../../errors.ts';
import { StoreLayout } from '../../store/layout.ts';
import { currentVersion, readRef } from '../../store/refs.ts';
import { requireManifest } from '../../store/objects.ts';
import { requireIntact } from '../../store/verify.ts';
import { kindOfStage } from '../toolchain.ts';

export interface CompositionArgs {
  model?: string;
  adapter?: string[];
  composition?: string;
  disable?: string[];
  project?: string;
}

/** Resolves --composition into --model and --adapter; without it, checks that --model is given. */
export function applyComposition<A extends CompositionArgs>(a: A, cwd = process.cwd()): A & { model: string; prompt?: InferencePrompt } {
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
  if (!cur) throw new PeftError('E_NOT_FOUND', `composition "${name}" has not been built in ${layout.root}`, { hint: `run \`peftmake build ${stage}\` first` });
  requireIntact(layout, cur.key, `${stage} v${cur.version}`); // never served from a damaged object
  const manifest = requireManifest(layout, cur.key, stage);
  const artifact = { name: stage, kind: manifest.kind, key: cur.key, version: cur.version, dir: layout.object(cur.key), manifest };
  const stack = kindOfStage(stage)!.inferenceStack!(artifact, { disable: a.disable });
  // ... nor from a damaged adapter or model object it stacks
  for (const d of [stack.modelDir, ...stack.adapters.map((x) => x.dir)]) {
    const rel = relative(layout.objects, d);
    const key = rel.split(sep)[0];
    if (key && !rel.startsWith('..') && !isAbsolute(rel) && existsSync(layout.object(key)))
      requireIntact(layout, key, `${stage}'s artifact ${key.slice(0, 12)}`);
  }
  return { ...a, model: stack.modelDir, adapter: stack.adapters.map((x) => `${x.dir}:${x.weight}`), ...(stack.prompt ? { prompt: stack.prompt } : {}) };
}

export const compositionOptions = {
  composition: { type: 'string', describe: 'use a built composition (base + its adapters) from pipeline.json' },
  disable: { type: 'string', array: true, describe: 'with --composition: switch this adapter off (repeatable)' },
  project: { type: 'string', describe: 'project directory holding artifacts/ (default: the current directory)' },
} as const;

/**
 * With --composition the prompt is a user turn rendered with the chat template the composition's enabled adapters were
 * trained with (`format`, from the composition kind; without one, the base's chat template), undefined where that format
 * has none; its warnings go to `warn`. The text is encoded without specials: the template writes its own BOS (the one
 * BOS rule of src/hf/tokenizer.ts).
 */
export function chatPromptText(
  tok: Pick<ModelTokenizer, 'chatTemplate' | 'bosToken' | 'eosToken'>,
  prompt: string,
  format?: InferencePrompt,
  warn: (line: string) => void = () => {},
): string | undefined {
  for (const w of format?.warnings ?? []) warn(`warning: ${w}`);
  return inferenceChatText(tok, [{ role: 'user', content: prompt }], format);
}

export const rawOption = {
  type: 'boolean',
  describe: 'with --composition: use the prompt as is, without the chat template its adapters were trained with',
} as const;

/** --model, --adapter and --quant as generate and score declare them. */
export const modelOption = { type: 'string', describe: 'Hugging Face model directory (or --composition)' } as const;
export const adapterOption = { type: 'string', array: true, describe: 'PEFT adapter directory, optionally DIR:SCALE (repeatable, stacked)' } as const;
export const quantOption = { type: 'string', choices: ['nf4', 'none'], describe: 'frozen weight storage (default none)' } as const;
