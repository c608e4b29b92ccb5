// generate --composition formats the prompt as the adapter was trained: with the dataset's chat template (and its fixed
// date), recorded in the artifact, not the base model's (stories260K has none, so it used to get the raw text).
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModelTokenizer } from '../../../src/hf/tokenizer.ts';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const BIN = join(ROOT, 'bin', 'peftmake.js');
const MODEL = join(ROOT, 'models', 'stories260K');
const skip = existsSync(join(ROOT, 'native', 'build', 'Release', 'peft_engine.node')) ? '' : 'native addon not built (npm run build:native)';

const TEMPLATE =
  '{%- if date_string is defined %}Today: {{ date_string }}{{ "\\n" }}{% endif %}' +
  '{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% if m.role == "assistant" %}{{ eos_token }}{% endif %}{{ "\\n" }}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}';
const chats = ['Lily', 'Tom', 'Ben', 'Sue', 'Max', 'Anna', 'Sam', 'Mia'].map((n) => ({
  messages: [
    { role: 'user', content: `Who is ${n}?` },
    { role: 'assistant', content: `${n} is a friend who likes the park.` },
  ],
}));
const train = { quant: 'none', compute: 'fp32', lora: { r: 2, alpha: 4, dropout: 0 }, maxSteps: 2, batchSize: 2, seqLen: 64, checkpointEvery: 0 };
const pipeline = {
  models: { base: { path: MODEL } },
  datasets: {
    persona: {
      model: 'base',
      source: { files: ['data/persona.jsonl'] },
      format: 'chat',
      template: { chatTemplate: TEMPLATE, date: '2024-12-01' },
      split: { valid: 0 },
    },
    notes: { model: 'base', source: { files: ['data/notes.txt'] }, format: 'text', seqLen: 32, split: { valid: 0 } },
  },
  adapters: {
    persona: { base: 'base', data: 'persona', ...train },
    notes: { base: 'base', data: 'notes', ...train },
  },
  compositions: {
    persona: { base: 'base', adapters: [{ name: 'notes' }, { name: 'persona' }] },
    notes: { base: 'base', adapters: [{ name: 'notes' }] },
  },
};

describe.skipIf(skip !== '')(`generate --composition uses the adapter's chat template${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let dir: string;
  const cli = (...args: string[]) => execFileSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const promptTokens = (...args: string[]) =>
    (JSON.parse(cli('generate', ...args, '--max-tokens', '1', '--json')) as { prompt_tokens: number[] }).prompt_tokens;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'peftmake-chat-'));
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', 'persona.jsonl'), chats.map((c) => JSON.stringify(c)).join('\n') + '\n');
    cpSync(join(ROOT, 'models', 'stories260K', 'ATTRIBUTION.md'), join(dir, 'data', 'notes.txt'));
    writeFileSync(join(dir, 'pipeline.json'), JSON.stringify(pipeline, null, 2));
    cli('build', '--json');
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("renders the prompt with the persona dataset's template and its recorded date", () => {
    // as in training: the template's text, encoded without the tokenizer's specials (the template writes its own)
    const expected = loadModelTokenizer(MODEL).encode('Today: 01 Dec 2024\n<|user|>Who is Lily?\n<|assistant|>', { special: false });
    expect(promptTokens('--composition', 'persona', '--prompt', 'Who is Lily?')).toEqual(expected);
  });

  it('uses the text as is where no enabled adapter was trained with a chat template (and the base has none), and with --raw', () => {
    const raw = promptTokens('--model', MODEL, '--prompt', 'Who is Lily?');
    expect(promptTokens('--composition', 'notes', '--prompt', 'Who is Lily?')).toEqual(raw);
    expect(promptTokens('--composition', 'persona', '--disable', 'persona', '--prompt', 'Who is Lily?')).toEqual(raw);
    expect(promptTokens('--composition', 'persona', '--raw', '--prompt', 'Who is Lily?')).toEqual(raw);
  });
});
