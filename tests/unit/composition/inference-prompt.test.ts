// Which prompt format inference uses for an adapter stack: the chat template the topmost adapter trained on a prompt
// format recorded (with its date), else the base's; rendered as a user turn.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { inferencePrompt } from '../../../stages/shared/inference-prompt.ts';
import { renderInferencePrompt } from '../../../src/hf/prompt-format.ts';

const MODEL = join(resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..'), 'models', 'stories260K');
const BASE_TPL = '{% for m in messages %}[{{ m.role }}] {{ m.content }}{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}';
const T1 = '{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}';
const T2 = '{{ date_string }} ' + T1;
const specials = { bosToken: '<s>', eosToken: '</s>' };

describe('inference prompt format', () => {
  const dir = mkdtempSync(join(tmpdir(), 'peftmake-ip-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const base = join(dir, 'base');
  mkdirSync(base);
  copyFileSync(join(MODEL, 'tokenizer.json'), join(base, 'tokenizer.json'));
  writeFileSync(join(base, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>', eos_token: '</s>', chat_template: BASE_TPL }));
  const adapter = (name: string, meta: Record<string, unknown>) => {
    const d = join(dir, name);
    mkdirSync(d);
    writeFileSync(join(d, 'adapter.json'), JSON.stringify({ name, data: { name, key: 'k', format: 'text' }, ...meta }));
    return { name, dir: d };
  };
  const domain = adapter('domain', { prompt: { format: 'text', chat: null } });
  const persona = adapter('persona', { data: { name: 'p', key: 'k', format: 'chat' }, prompt: { format: 'chat', chat: { template: T1, date: null } } });
  const exec = adapter('exec', { data: { name: 'e', key: 'k', format: 'chat' }, prompt: { format: 'chat', chat: { template: T2, date: '2024-12-01' } } });
  const qa = adapter('qa', { data: { name: 'q', key: 'k', format: 'qa' }, prompt: { format: 'qa', chat: null } });
  const old = adapter('old', { data: { name: 'o', key: 'k', format: 'chat' } });

  it("takes the topmost adapter's recorded template over text adapters and the base's", () => {
    const p = inferencePrompt([domain, persona], base);
    expect(p).toEqual({ chat: { template: T1, date: null }, source: 'adapter persona', warnings: [] });
    expect(renderInferencePrompt(p, specials, 'Hi?')).toBe('<|user|>Hi?<|assistant|>');
    expect(renderInferencePrompt(inferencePrompt([exec], base), specials, 'Hi?')).toBe('01 Dec 2024 <|user|>Hi?<|assistant|>');
  });

  it('uses the prompt as is for an adapter trained on plain prompts (qa), even over a base with a template', () => {
    const p = inferencePrompt([domain, qa], base);
    expect(p).toMatchObject({ chat: null, source: 'adapter qa' });
    expect(renderInferencePrompt(p, specials, 'Hi?')).toBeUndefined();
  });

  it("falls back to the base's template for text adapters only, and says when the choice is not clear-cut", () => {
    expect(inferencePrompt([domain], base)).toMatchObject({ chat: { template: BASE_TPL }, source: 'base model', warnings: [] });
    expect(inferencePrompt([], base).source).toBe('base model');
    expect(inferencePrompt([persona, exec], base).warnings).toEqual([
      'adapters persona, exec were trained with different prompt formats; using that of exec (the last in the stack)',
    ]);
    expect(inferencePrompt([old], base).warnings[0]).toMatch(/adapter old was built before peftmake recorded the prompt format it was trained on; rebuild it/);
  });
});
