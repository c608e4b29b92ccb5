// --composition for generate / score: argument rules, the store lookup's errors, and the chat-template prompt.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { applyComposition, chatPromptText } from '../../../src/cli/commands/composition-target.ts';
import { loadModelTokenizer } from '../../../src/hf/tokenizer.ts';
import { REPO_DIR as REPO } from '../../helpers/project.ts';

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

  it('renders the prompt as a user turn with the chat template, BOS written once (by the template, not again by the tokenizer)', () => {
    const model = join(dir, 'model');
    mkdirSync(model);
    copyFileSync(join(REPO, 'models', 'stories260K', 'tokenizer.json'), join(model, 'tokenizer.json'));
    writeFileSync(
      join(model, 'tokenizer_config.json'),
      JSON.stringify({
        add_bos_token: true,
        bos_token: '<s>',
        eos_token: '</s>',
        chat_template:
          '{{ bos_token }}{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}',
      }),
    );
    const tok = loadModelTokenizer(model);
    const text = chatPromptText(tok, 'Hi?');
    expect(text).toBe('<s><|user|>Hi?\n<|assistant|>');
    const ids = tok.encode(text!, { special: false });
    expect(ids.filter((id) => id === tok.bosId)).toEqual([1]);
    expect(ids[0]).toBe(1);
    // a plain prompt gets the tokenizer's BOS (add_bos_token), once
    expect(tok.encode('Hi?', { special: true })[0]).toBe(1);
    expect(tok.encode('Hi?', { special: true }).slice(1)).toEqual(tok.encode('Hi?', { special: false }));
    writeFileSync(join(model, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>' }));
    expect(chatPromptText(loadModelTokenizer(model), 'Hi?')).toBeUndefined();
  });
});
