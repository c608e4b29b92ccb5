// serve's chat routes format messages as the model's adapters were trained: a composition (and an adapter served on its
// own) whose dataset set a chat template is prompted with that template and its recorded date, the same prompt and
// greedy text as `peftmake generate --composition`; /fine-tuning/query too.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGenerate } from '../../../src/cli/commands/generate.ts';
import { TOOLCHAIN } from '../../../src/cli/toolchain.ts';
import { nativeEngine } from '../../../src/engine/native.ts';
import { loadModelTokenizer } from '../../../src/hf/tokenizer.ts';
import { chatPromptIds } from '../../../src/serve/chat-prompt.ts';
import { startServer, type RunningServer } from '../../../src/serve/server.ts';
import { TempProject } from '../../helpers/project.ts';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const MODEL = join(ROOT, 'models', 'stories260K');
const skip = existsSync(join(ROOT, 'native', 'build', 'Release', 'peft_engine.node')) ? '' : 'native addon not built (npm run build:native)';

const TEMPLATE =
  '{%- if date_string is defined %}Today: {{ date_string }}{{ "\\n" }}{% endif %}' +
  '{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% if m.role == "assistant" %}{{ eos_token }}{% endif %}{{ "\\n" }}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}';
const chats = ['Lily', 'Tom', 'Ben', 'Sue'].map((n) => ({
  messages: [
    { role: 'user', content: `Who is ${n}?` },
    { role: 'assistant', content: `${n} is a friend who likes the park.` },
  ],
}));
const train = { quant: 'none', compute: 'fp32', lora: { r: 2, alpha: 4, dropout: 0 }, maxSteps: 2, batchSize: 2, seqLen: 64, checkpointEvery: 0 };

describe.skipIf(skip !== '')(`serve prompts with the chat template the adapters were trained with${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let p: TempProject;
  let s: RunningServer;
  const tok = loadModelTokenizer(MODEL);
  const post = async (path: string, body: unknown) => {
    const r = await fetch(`${s.url}${path}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    expect(r.status).toBe(200);
    return (await r.json()) as Record<string, any>;
  };

  beforeAll(async () => {
    nativeEngine().setThreads(1);
    p = new TempProject('peftmake-serve-chat-');
    p.write('data/persona.jsonl', chats.map((c) => JSON.stringify(c)).join('\n') + '\n');
    p.pipeline({
      models: { base: { path: MODEL } },
      datasets: {
        persona: {
          model: 'base',
          source: { files: ['data/persona.jsonl'] },
          format: 'chat',
          template: { chatTemplate: TEMPLATE, date: '2024-12-01' },
          split: { valid: 0 },
        },
      },
      adapters: { persona: { base: 'base', data: 'persona', ...train } },
      compositions: { persona: { base: 'base', adapters: [{ name: 'persona' }] } },
    });
    expect((await p.build()).ok).toBe(true);
    s = await startServer({ projectDir: p.dir, toolchain: TOOLCHAIN, port: 0, log: () => {} });
  }, 120_000);
  afterAll(async () => {
    await s?.close();
    p?.cleanup();
  });

  it('chat completions and the query endpoint use the dataset template: the prompt and greedy text of generate --composition', async () => {
    const ref = await runGenerate({ composition: 'persona', project: p.dir, prompt: 'Who is Lily?', maxTokens: 6 });
    // the template's text with the dataset's date, encoded without the tokenizer's specials (what training saw)
    expect(ref.prompt_tokens).toEqual(tok.encode('Today: 01 Dec 2024\n<|user|>Who is Lily?\n<|assistant|>', { special: false }));
    const c = await post('/v1/chat/completions', { model: 'persona', messages: [{ role: 'user', content: 'Who is Lily?' }], max_tokens: 6, temperature: 0 });
    expect(c.usage).toMatchObject({ prompt_tokens: ref.prompt_tokens.length, completion_tokens: ref.tokens.length });
    expect(c.choices[0].message.content).toBe(ref.text);
    const q = await post('/fine-tuning/query', { query: 'Who is Lily?', model: 'persona', max_tokens: 6 });
    expect(q.usage).toEqual({ prompt_tokens: ref.prompt_tokens.length, completion_tokens: ref.tokens.length });
    expect(q.answer).toBe(ref.text.trim());
  });

  it('the served models carry the format: the exact ids for a multi-turn chat, for the composition and the adapter alone', () => {
    const messages = [
      { role: 'user', content: 'Who is Tom?' },
      { role: 'assistant', content: 'A friend.' },
      { role: 'user', content: 'Where is he?' },
    ];
    const text = 'Today: 01 Dec 2024\n<|user|>Who is Tom?\n<|assistant|>A friend.</s>\n<|user|>Where is he?\n<|assistant|>';
    for (const id of ['persona', 'adapters.persona']) {
      const m = s.registry.resolve(id);
      expect(m.prompt).toMatchObject({ source: 'adapter persona', chat: { template: TEMPLATE, date: '2024-12-01' } });
      expect(chatPromptIds(tok, messages, m.prompt)).toEqual(tok.encode(text, { special: false }));
    }
    // the base model has no chat template and no adapter: the texts one per line, with the tokenizer's specials
    expect(chatPromptIds(tok, messages, s.registry.resolve('base').prompt)).toEqual(tok.encode('Who is Tom?\nA friend.\nWhere is he?', { special: true }));
  });
});
