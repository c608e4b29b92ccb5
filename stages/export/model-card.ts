// README.md of an export (a Hugging Face model card): base model, datasets, training config, metrics, the
// peftmake and engine versions, and how to use the files; YAML front matter as the Hub reads it.
import type { ExportAdapter, ExportSource } from './export-source.ts';
import { seq2seqModel } from '../../src/hf/model-family.ts';

export interface CardInput {
  source: ExportSource;
  format: string;
  /** The base as people find it: a hub id, or the local path in pipeline.json. */
  baseModel: { hub?: string; revision?: string; path?: string };
  peftmakeVersion: string;
  engineVersion: string;
  /** Extra lines about the files (dtype, shards, quant types). */
  details: string[];
  /** How to use the result elsewhere, as a fenced code block's language and text. */
  usage: { lang: string; code: string }[];
}

function yamlString(s: string): string {
  return JSON.stringify(s);
}

function fmt(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function adapterSection(a: ExportAdapter): string[] {
  const out = [`### ${a.name}`, ''];
  out.push(`- store key: \`${a.key}\`${a.weight !== 1 ? `, weight ${a.weight}` : ''}`);
  if (a.meta) {
    out.push(
      `- dataset: \`${a.meta.data.name}\` (${a.meta.data.format ?? 'unknown format'}, key \`${a.meta.data.key.slice(0, 16)}\`), objective ${a.meta.objective}`,
    );
    if (a.meta.stack.length) out.push(`- trained on top of (frozen): ${a.meta.stack.map((s) => `\`${s.name}\``).join(', ')}`);
    const p = a.meta.params;
    const keys = Object.keys(p).sort();
    if (keys.length) {
      out.push('', '| training setting | value |', '|---|---|');
      for (const k of keys) out.push(`| ${k} | ${fmt(p[k]).replace(/\|/g, '\\|')} |`);
    }
    if (a.meta.engine)
      out.push(
        '',
        `- engine: ${a.meta.engine.backend}, compute ${a.meta.engine.compute}, quant ${a.meta.engine.quant}, ${a.meta.engine.threads} threads, engine ${a.meta.engine.version}`,
      );
  }
  if (a.metrics && Object.keys(a.metrics).length) {
    out.push('', '| metric | value |', '|---|---|');
    for (const [k, v] of Object.entries(a.metrics)) if (typeof v === 'number' || typeof v === 'string') out.push(`| ${k} | ${fmt(v)} |`);
  }
  out.push('');
  return out;
}

/** The transformers class a card's usage code loads the base with: seq2seq for T5, causal LM for the rest. */
export function autoModelClass(modelDir: string): string {
  return seq2seqModel(modelDir) ? 'AutoModelForSeq2SeqLM' : 'AutoModelForCausalLM';
}

export function modelCard(c: CardInput): string {
  const s = c.source;
  const base = c.baseModel.hub ?? c.baseModel.path ?? s.baseName;
  const datasets = [...new Set(s.adapters.flatMap((a) => (a.meta ? [a.meta.data.name] : [])))];
  const lines = ['---'];
  if (c.format === 'peft') lines.push('library_name: peft');
  else if (c.format === 'merged') lines.push('library_name: transformers');
  lines.push(`base_model: ${yamlString(base)}`);
  lines.push('tags:', '- peftmake', '- lora', `- ${c.format}`);
  lines.push('---', '', `# ${s.what}`, '');
  lines.push(`Exported by peftmake ${c.peftmakeVersion} (engine ${c.engineVersion}) as \`${c.format}\`.`, '');
  lines.push(`- base model: \`${base}\`${c.baseModel.revision ? ` (revision \`${c.baseModel.revision}\`)` : ''}`);
  if (datasets.length) lines.push(`- datasets: ${datasets.map((d) => `\`${d}\``).join(', ')}`);
  if (s.composition)
    lines.push(
      `- composition \`${s.composition.name}\`: method \`${s.composition.method}\`, adapters ${s.adapters.map((a) => `\`${a.name}\`×${a.weight}`).join(' + ')}`,
    );
  for (const d of c.details) lines.push(`- ${d}`);
  lines.push('', '## Use', '');
  for (const u of c.usage) lines.push('```' + u.lang, u.code.trimEnd(), '```', '');
  lines.push('## Adapters', '');
  for (const a of s.adapters) lines.push(...adapterSection(a));
  return (
    lines
      .join('\n')
      .replace(/\n{3,}/g, '\n\n')
      .trimEnd() + '\n'
  );
}
