// Fills every default of a `datasets.<name>` entry (idempotent, pure), so the rest of the stage reads a complete config.
import { PII_TYPES, type DatasetConfig, type DatasetSource } from './schema.ts';

type Loose = Partial<Omit<DatasetConfig, 'clean' | 'template' | 'split' | 'source'>> & {
  source?: DatasetSource;
  clean?: Partial<DatasetConfig['clean']>;
  template?: Partial<DatasetConfig['template']>;
  split?: Partial<DatasetConfig['split']>;
};

export function resolveSource(s: DatasetSource): DatasetSource {
  const out: DatasetSource = { ...s, fileFormat: s.fileFormat ?? 'auto', documents: s.documents ?? 'file' };
  if (s.hub !== undefined) {
    out.config = s.config ?? null;
    out.split = s.split ?? 'train';
    out.revision = s.revision ?? 'main';
  }
  return out;
}

export function resolveDatasetConfig(c: Loose): DatasetConfig {
  const clean = c.clean ?? {};
  const template = c.template ?? {};
  const split = c.split ?? {};
  return {
    ...(c.description !== undefined ? { description: c.description } : {}),
    model: c.model ?? '',
    source: resolveSource(c.source ?? {}),
    format: c.format ?? 'text',
    fields: { ...(c.fields ?? {}) },
    template: {
      prompt: template.prompt ?? null,
      promptNoInput: template.promptNoInput ?? null,
      response: template.response ?? null,
      useChatTemplate: template.useChatTemplate ?? false,
      chatTemplate: template.chatTemplate ?? null,
      date: template.date ?? null,
    },
    clean: {
      nfc: clean.nfc ?? true,
      whitespace: clean.whitespace ?? true,
      strip: clean.strip ?? 'none',
      minChars: clean.minChars ?? 1,
      maxChars: clean.maxChars ?? null,
      dedup: clean.dedup ?? 'exact',
      nearDupThreshold: clean.nearDupThreshold ?? 0.85,
      pii: clean.pii ?? 'off',
      piiTypes: clean.piiTypes ?? [...PII_TYPES],
    },
    seqLen: c.seqLen ?? 512,
    maxTokens: c.maxTokens ?? null,
    overLength: c.overLength ?? 'drop',
    limit: c.limit ?? null,
    sample: c.sample ?? 'random',
    seed: c.seed ?? 0,
    split: { valid: split.valid ?? 0.1, seed: split.seed ?? null, source: split.source ? resolveSource(split.source) : null },
    onError: c.onError ?? 'fail',
  };
}

/** The token cap that applies: `maxTokens`, or 2048 for example formats and none for `text`. */
export function effectiveMaxTokens(c: DatasetConfig): number | null {
  if (c.maxTokens !== null) return c.maxTokens;
  return c.format === 'text' ? null : 2048;
}
