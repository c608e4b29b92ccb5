// A chat template that prints today's date (Llama 3.2's, via strftime_now / date_string) renders the same text every
// day: with no `template.date` the template's own default, with one the date recorded in the config (so in the key).
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { resolveDatasetConfig } from '../../../stages/dataset/config.ts';
import { prepareDataset } from '../../../stages/dataset/prepare.ts';
import { loadModelTokenizer } from '../../../src/hf/index.ts';

const MODEL = join(resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..'), 'models', 'stories260K');
// The date logic of Llama 3.2's chat template, around a small chat layout.
const DATED =
  '{%- if not date_string is defined %}{%- if strftime_now is defined %}{%- set date_string = strftime_now("%d %b %Y") %}{%- else %}{%- set date_string = "26 Jul 2024" %}{%- endif %}{%- endif %}' +
  'Today Date: {{ date_string }}\n{% for m in messages %}{{ m.role }}: {{ m.content }}{% if m.role == "assistant" %}{{ eos_token }}{% endif %}{{ "\\n" }}{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}';
const examples = [
  {
    messages: [
      { role: 'user', content: 'Who is Lily?' },
      { role: 'assistant', content: 'A girl.' },
    ],
  },
];

async function renderOn(day: string, template: Record<string, unknown>): Promise<string> {
  vi.setSystemTime(new Date(`${day}T12:00:00Z`));
  const config = resolveDatasetConfig({ model: 'base', format: 'chat', source: { examples }, template, split: { valid: 0 } } as Parameters<
    typeof resolveDatasetConfig
  >[0]);
  const p = await prepareDataset(config, { name: 'datasets.chat', projectDir: process.cwd(), tokenizer: loadModelTokenizer(MODEL) });
  return p.train[0].text as string;
}

describe('chat templates that print the date', () => {
  afterEach(() => vi.useRealTimers());

  it("render the same text on two days: the template's default date when the config sets none", async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const a = await renderOn('2026-03-01', { chatTemplate: DATED });
    const b = await renderOn('2026-03-02', { chatTemplate: DATED });
    expect(a).toBe(b);
    expect(a).toBe('Today Date: 26 Jul 2024\nuser: Who is Lily?\nassistant: A girl.</s>\n');
  });

  it('render the date the config records, which is part of the resolved config (and so of the key)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    expect(resolveDatasetConfig({ model: 'base' } as Parameters<typeof resolveDatasetConfig>[0]).template).toMatchObject({ date: null });
    expect(resolveDatasetConfig({ model: 'base', template: { date: '2024-12-01' } } as Parameters<typeof resolveDatasetConfig>[0]).template).toMatchObject({
      date: '2024-12-01',
    });
    const a = await renderOn('2026-03-01', { chatTemplate: DATED, date: '2024-12-01' });
    expect(a).toBe(await renderOn('2026-03-02', { chatTemplate: DATED, date: '2024-12-01' }));
    expect(a.split('\n')[0]).toBe('Today Date: 01 Dec 2024');
  });

  it('a template that needs a date the config does not give fails with the fix; a malformed date is rejected', async () => {
    await expect(
      renderOn('2026-03-01', { chatTemplate: '{{ strftime_now("%Y-%m-%d") }}{% for m in messages %}{{ m.content }}{% endfor %}' }),
    ).rejects.toMatchObject({
      message: /template\/chatTemplate: the chat template calls strftime_now \(today's date\), and no date is set for it/,
      details: { hint: /set "template": \{"date": "YYYY-MM-DD"\} on the dataset/ },
    });
    await expect(renderOn('2026-03-01', { chatTemplate: DATED, date: '2024-02-30' })).rejects.toThrow(/template\/date: "2024-02-30" is not a calendar date/);
  });
});
