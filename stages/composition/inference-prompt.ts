// Which prompt format inference uses for a composition or an adapter stack (generate --composition, serve): the chat
// template the enabled adapters were trained with (recorded in adapter.json), else the base model's; and the prompt
// rendered with it. One place, so every entry point formats prompts the way the adapters saw them in training.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadModelTokenizer } from '../../src/tokenizer/load.ts';
import { renderChatPrompt, type PromptFormat } from '../../src/tokenizer/prompt-format.ts';
import { ADAPTER_META, readAdapterMeta } from '../adapter/adapter-artifact.ts';
import { readCompositionFile } from './composition-file.ts';

export interface InferencePrompt {
  /** The chat template (and the date it renders) a prompt is wrapped in as a user turn; null: the prompt as is. */
  chat: { template: string; date: string | null } | null;
  /** Where it comes from: `adapter NAME`, `base model`, or `none`. */
  source: string;
  /** Said when the choice is not clear-cut (adapters trained with different templates, an older artifact). */
  warnings: string[];
}

const sameChat = (a: PromptFormat['chat'], b: PromptFormat['chat']) => (a?.template ?? null) === (b?.template ?? null) && (a?.date ?? null) === (b?.date ?? null);

/**
 * The prompt format for adapters applied in this order over the base in `modelDir`. The topmost adapter trained on a
 * prompt format (chat, qa, instruction, completion: not plain text) decides: its chat template, or none when it was
 * trained on plain prompts. Where every adapter was trained on text (or none is enabled), the base's own chat template.
 */
export function inferencePrompt(adapters: { name: string; dir: string }[], modelDir: string): InferencePrompt {
  const warnings: string[] = [];
  const trained: { name: string; prompt: PromptFormat }[] = [];
  for (const a of adapters) {
    if (!existsSync(join(a.dir, ADAPTER_META))) continue; // a merged adapter: its sources are passed instead
    const meta = readAdapterMeta(a.dir);
    if (meta.prompt) {
      if (meta.prompt.format !== 'text') trained.push({ name: a.name, prompt: meta.prompt });
    } else if (meta.data.format && meta.data.format !== 'text')
      warnings.push(`adapter ${a.name} was built before peftmake recorded the prompt format it was trained on; rebuild it to format prompts as in training`);
  }
  if (trained.length) {
    const top = trained[trained.length - 1];
    const others = trained.filter((t) => !sameChat(t.prompt.chat, top.prompt.chat)).map((t) => t.name);
    if (others.length) warnings.push(`adapters ${[...others, top.name].join(', ')} were trained with different prompt formats; using that of ${top.name} (the last in the stack)`);
    return { chat: top.prompt.chat, source: `adapter ${top.name}`, warnings };
  }
  // The base's own format, with today's date as transformers gives its templates at inference (no key depends on it).
  const base = existsSync(join(modelDir, 'tokenizer_config.json')) ? loadModelTokenizer(modelDir).chatTemplate : undefined;
  return base ? { chat: { template: base.source, date: new Date().toISOString().slice(0, 10) }, source: 'base model', warnings } : { chat: null, source: 'none', warnings };
}

/** The prompt format of a composition artifact with adapters switched off by name (merged: of the adapters merged). */
export function compositionPrompt(artifactDir: string, opts: { disable?: string[]; objectsDir?: string } = {}): InferencePrompt {
  const file = readCompositionFile(artifactDir);
  const adapters = file.adapters
    .filter((a) => !(opts.disable ?? []).includes(a.name))
    .map((a) => {
      const inStore = opts.objectsDir ? join(opts.objectsDir, a.key) : undefined;
      return { name: a.name, dir: inStore && existsSync(inStore) ? inStore : a.dir };
    });
  return inferencePrompt(adapters, file.base.modelDir);
}

/** `prompt` formatted for the model: wrapped by the chat template, or undefined where the format has none (use it as is). */
export function renderInferencePrompt(p: InferencePrompt, modelDir: string, prompt: string): { text: string; bos: boolean } | undefined {
  if (!p.chat) return undefined;
  const tok = loadModelTokenizer(modelDir);
  return renderChatPrompt(p.chat, { bosToken: tok.bosToken, eosToken: tok.eosToken }, prompt, `the chat template of the ${p.source}`);
}
