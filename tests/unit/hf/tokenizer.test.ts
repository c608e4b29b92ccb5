// The model tokenizer: the fast cached encode gives the library's exact ids; continuation encoding; BOS/EOS from
// the tokenizer files; chat templates; modelDirOf.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import { compileChatTemplate } from '../../../src/hf/index.ts';
import { modelDirOf } from '../../../stages/shared/model-dir.ts';
import { FIXTURES, haveFixtures, STORIES_HF, storiesTokenizer } from '../../functional/dataset/helpers.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

describe.skipIf(!haveFixtures)('stories260K tokenizer (needs ../shared/fixtures)', () => {
  const lib = () =>
    new Tokenizer(
      JSON.parse(readFileSync(join(STORIES_HF, 'tokenizer.json'), 'utf8')),
      JSON.parse(readFileSync(join(STORIES_HF, 'tokenizer_config.json'), 'utf8')),
    );

  it('fast encode equals the library on tinystories, wikitext and tricky strings', () => {
    const tok = storiesTokenizer();
    const l = lib();
    const texts = [
      readFileSync(join(FIXTURES, 'tinystories-sample/tinystories.txt'), 'utf8').slice(0, 60_000),
      readFileSync(join(FIXTURES, 'wikitext-2-raw-v1/wiki.valid.raw'), 'utf8').slice(0, 60_000),
      '  two  leading spaces, trailing  ',
      'Ünïcödé — “quotes” 東京 🙂 tabs\tand\nnewlines',
      'special <s> and </s> inside text',
      '   ',
      'ends with spaces   ',
      ' a  b   c    d ',
      'a \u2581 marker',
      '',
    ];
    for (const t of texts) expect(tok.encode(t, { special: false })).toEqual(l.encode(t, { add_special_tokens: false }).ids);
  });

  it('fast decode equals the library, with and without special tokens', () => {
    const tok = storiesTokenizer();
    const l = lib();
    const text = readFileSync(join(FIXTURES, 'tinystories-sample/tinystories.txt'), 'utf8').slice(0, 20_000) + ' Ünïcödé — 東京 🙂';
    const ids = [1, ...tok.encode(text, { special: false }), 2, 1, ...tok.encode('  x\ty  ', { special: false }), 2];
    for (let i = 0; i < ids.length; i += 97) {
      const part = ids.slice(i, i + 300);
      expect(tok.decode(part, { skipSpecial: false })).toBe(l.decode(part, { skip_special_tokens: false }));
      expect(tok.decode(part, { skipSpecial: true })).toBe(l.decode(part, { skip_special_tokens: true }));
    }
    // A sequence cut inside a multi-byte character.
    const cut = tok.encode('東京', { special: false });
    expect(tok.decode(cut.slice(0, 2), { skipSpecial: false })).toBe(l.decode(cut.slice(0, 2)));
  });

  it('adds BOS as the post-processor does, knows EOS, and continues without a space marker', () => {
    const tok = storiesTokenizer();
    expect([tok.bosId, tok.eosId, tok.prefixIds, tok.suffixIds]).toEqual([1, 2, [1], []]);
    expect(tok.encode('Hi', { special: true })).toEqual(lib().encode('Hi').ids);
    expect(tok.decode(tok.encodeContinuation(' Denver Broncos'), { skipSpecial: false })).toBe('Denver Broncos');
    expect(tok.decode([...tok.encode('Answer:', { special: false }), ...tok.encodeContinuation(' Denver')], { skipSpecial: false })).toBe('Answer: Denver');
  });

  it('modelDirOf follows model.json and falls back to the artifact dir', () => {
    const art = tempDir('peftmake-art-');
    expect(modelDirOf(art)).toBe(art);
    writeFileSync(join(art, 'model.json'), JSON.stringify({ dir: STORIES_HF }));
    expect(modelDirOf(art)).toBe(STORIES_HF);
    writeFileSync(join(art, 'model.json'), '{"path": 1}');
    expect(() => modelDirOf(art)).toThrow(/model\.json: expected \{"dir": "<model directory>"\}/);
  });
});

describe('chat templates', () => {
  it('renders messages with bos/eos and the generation prompt', () => {
    const tpl = compileChatTemplate(
      "{{ bos_token }}{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% if m.role == 'assistant' %}{{ eos_token }}{% endif %}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}",
      { bos_token: '<s>', eos_token: '</s>' },
      'test',
    );
    const msgs = [
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'hello' },
    ];
    // As in transformers, the newline after a block tag is trimmed (trim_blocks).
    expect(tpl.render(msgs)).toBe('<s><|user|>hi<|assistant|>hello</s>');
    expect(tpl.render(msgs.slice(0, 1), { addGenerationPrompt: true })).toBe('<s><|user|>hi<|assistant|>');
  });
  it('reports a template that does not parse', () => {
    expect(() => compileChatTemplate('{% for %}', {}, 'tokenizer_config.json')).toThrow(/tokenizer_config.json: chat template does not parse/);
  });
});
