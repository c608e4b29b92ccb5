// --composition for generate / score: argument rules, the store lookup's errors, and the chat-template prompt.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { applyComposition, chatPromptText } from '../../../src/cli/commands/composition-target.ts';

describe('--composition arguments', () => {
  const dir = mkdtempSync(join(tmpdir(), 'peftmake-ct-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('needs --model or --composition, and not both', () => {
    expect(() => applyComposition({})).toThrow(/give --model DIR \(with --adapter DIR\[:SCALE\]\.\.\.\) or --composition NAME/);
    expect(() => applyComposition({ disable: ['task'], model: 'm' })).toThrow(/--disable needs --composition NAME/);
    expect(() => applyComposition({ composition: 'a', model: 'm' })).toThrow(/drop --model \/ --adapter/);
    expect(applyComposition({ model: 'm', adapter: ['x:2'] })).toEqual({ model: 'm', adapter: ['x:2'] });
  });

  it('names the build to run when the composition has no version', () => {
    expect(() => applyComposition({ composition: 'assistant' }, dir)).toThrow(/composition "assistant" has not been built in .*artifacts/);
  });

  it('renders the prompt as a user turn with the chat template, BOS written once', () => {
    writeFileSync(
      join(dir, 'tokenizer_config.json'),
      JSON.stringify({
        bos_token: '<s>',
        eos_token: '</s>',
        chat_template: "{{ bos_token }}{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}",
      }),
    );
    expect(chatPromptText(dir, 'Hi?')).toEqual({ text: '<s><|user|>Hi?\n<|assistant|>', bos: false });
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>' }));
    expect(chatPromptText(dir, 'Hi?')).toBeUndefined();
  });
});
