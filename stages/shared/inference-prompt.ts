// Which prompt format inference uses for a composition or an adapter stack (generate --composition, serve, through the
// composition kind's inferenceStack): the chat template the enabled adapters were trained with (recorded in
// adapter.json), else the base model's. One place, so every entry point formats prompts as the adapters saw them.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { InferencePrompt, PromptFormat } from '../../src/hf/prompt-format.ts';
import { loadModelTokenizer } from '../../src/hf/tokenizer.ts';
import { ADAPTER_META, readAdapterMeta } from './adapter-artifact.ts';
import { readCompositionFile } from './composition-file.ts';

const sameChat = (a: PromptFormat['chat'], b: PromptFormat['chat']) =>
  (a?.template ?? null) === (b?.template ?? null) && (a?.date ?? null) === (b?.date ?? null);

/**
 * The prompt format for adapters applied in this order over the base in `modelDir`. The topmost adapter trained on a
 * prompt format (chat, qa, instruction, completion: not plain text) decides: its chat template, or none when it was
 * trained on plain prompts. Where every adapter was trained on text (or none is enabled), the base's own chat template,
 * with today's date as transformers gives its templates at inference (no key depends on it).
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
    if (others.length)
      warnings.push(
        `adapters ${[...others, top.name].join(', ')} were trained with different prompt formats; using that of ${top.name} (the last in the stack)`,
      );
    return {
      chat: top.prompt.chat,
      source: `adapter ${top.name}`,
      warnings,
      ...(top.prompt.promptTemplate ? { promptTemplate: top.prompt.promptTemplate } : {}),
    };
  }
  const base = existsSync(join(modelDir, 'tokenizer_config.json')) ? loadModelTokenizer(modelDir).chatTemplate : undefined;
  return base
    ? { chat: { template: base.source, date: new Date().toISOString().slice(0, 10) }, source: 'base model', warnings }
    : { chat: null, source: 'none', warnings };
}

/** The prompt format of a composition artifact with adapters switched off by name (merged: of the adapters merged). */
export function compositionPrompt(artifactDir: string, opts: { disable?: readonly string[]; objectsDir?: string } = {}): InferencePrompt {
  const file = readCompositionFile(artifactDir);
  const adapters = file.adapters
    .filter((a) => !(opts.disable ?? []).includes(a.name))
    .map((a) => {
      const inStore = opts.objectsDir ? join(opts.objectsDir, a.key) : undefined;
      return { name: a.name, dir: inStore && existsSync(inStore) ? inStore : a.dir };
    });
  return inferencePrompt(adapters, file.base.modelDir);
}
