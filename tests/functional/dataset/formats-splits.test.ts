// Chat format (loss on assistant turns only), completion, inline examples, overridden templates, maxTokens
// truncate, and deterministic seeded limit / valid split / explicit valid files.
import { describe, expect, it } from 'vitest';
import { IGNORE } from '../../../stages/dataset/tokenize.ts';
import { haveFixtures, prepare, storiesTokenizer, tempProject } from './helpers.ts';

const CHAT_TEMPLATE =
  "{{ bos_token }}{% for m in messages %}{% if m.role == 'user' %}User: {{ m.content }}\n{% elif m.role == 'system' %}System: {{ m.content }}\n{% else %}Assistant: {{ m.content }}{{ eos_token }}\n{% endif %}{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}";

function lossRuns(r: { ids: number[]; labels: number[] }): number[][] {
  const runs: number[][] = [];
  let cur: number[] | undefined;
  r.labels.forEach((l, i) => {
    if (l === IGNORE) cur = undefined;
    else {
      if (!cur) runs.push((cur = []));
      cur.push(r.ids[i]);
    }
  });
  return runs;
}

const stories = Array.from({ length: 200 }, (_, i) => ({ text: `Story number ${i}: a cat named Tom${i} went to the park and met a dog.` }));

describe.skipIf(!haveFixtures)('formats and splits (needs the stories260K tokenizer)', () => {
  it('chat: loss exactly on each assistant turn (content + EOS), none on system / user / generation prompts', async () => {
    const tok = storiesTokenizer();
    const examples = [
      {
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Who is Lily?' },
          { role: 'assistant', content: 'A little girl.' },
          { role: 'user', content: 'What did she find?' },
          { role: 'assistant', content: 'A needle.' },
        ],
      },
    ];
    const p = await prepare({ format: 'chat', source: { examples }, template: { chatTemplate: CHAT_TEMPLATE }, split: { valid: 0 } } as never);
    expect(p.train).toHaveLength(1);
    const r = p.train[0];
    expect(r.text).toBe('<s>System: Be brief.\nUser: Who is Lily?\nAssistant: A little girl.</s>\nUser: What did she find?\nAssistant: A needle.</s>\n');
    expect(r.ids[0]).toBe(tok.bosId);
    const runs = lossRuns(r);
    expect(runs.map((ids) => tok.decode(ids, { skipSpecial: true }).trim())).toEqual(['A little girl.', 'A needle.']);
    // Each assistant run ends with the template's EOS and the newline after it; nothing else carries loss.
    for (const ids of runs) expect(ids.slice(-3).includes(tok.eosId!)).toBe(true);
    const trained = runs.flat().length;
    expect(r.labels.filter((l) => l !== IGNORE).length).toBe(trained);
  });

  it('qa rendered through the chat template: loss on the assistant turn, which holds exactly the answer', async () => {
    const tok = storiesTokenizer();
    const p = await prepare({
      format: 'qa',
      source: { examples: [{ context: 'Tom is a cat.', question: 'Who is Tom?', answers: { text: ['a cat'] } }] },
      template: { chatTemplate: CHAT_TEMPLATE, useChatTemplate: true, response: '{answer}' },
      split: { valid: 0 },
    } as never);
    const r = p.train[0];
    expect(r.text).toBe('<s>User: Context: Tom is a cat.\nQuestion: Who is Tom?\nAnswer:\nAssistant: a cat</s>\n');
    const runs = lossRuns(r);
    expect(runs).toHaveLength(1);
    expect(tok.decode(runs[0], { skipSpecial: true }).trim()).toBe('a cat');
  });

  it('chat without any template is an error that says how to fix it', async () => {
    await expect(
      prepare({
        format: 'chat',
        source: {
          examples: [
            {
              messages: [
                { role: 'user', content: 'a' },
                { role: 'assistant', content: 'b' },
              ],
            },
          ],
        },
      } as never),
    ).rejects.toThrow('model "base" has no chat_template in tokenizer_config.json and the dataset sets none');
  });

  it('completion with an overridden template; qa with a custom prompt', async () => {
    const tok = storiesTokenizer();
    const p = await prepare({
      format: 'completion',
      source: { examples: [{ prompt: 'Once upon a time', completion: ' there was a cat.' }] },
      template: { prompt: '[{prompt}]' },
      split: { valid: 0 },
    } as never);
    expect(p.train[0].text).toBe('[Once upon a time] there was a cat.');
    expect(tok.decode(lossRuns(p.train[0])[0], { skipSpecial: true })).toBe('there was a cat.');
    const q = await prepare({
      format: 'qa',
      source: { examples: [{ context: 'Tom is a cat.', question: 'Who is Tom?', answers: ['a cat'] }] },
      template: { prompt: 'Q: {question} ({context}) {{A}}:' },
      split: { valid: 0 },
    } as never);
    expect(q.train[0].text).toBe('Q: Who is Tom? (Tom is a cat.) {A}: a cat');
    await expect(
      prepare({ format: 'qa', source: { examples: [{ context: 'c', question: 'q', answers: ['a'] }] }, template: { prompt: '{nope}' } } as never),
    ).rejects.toThrow('pipeline.json template/prompt: template placeholder {nope} is not a field of this format (context, question, answer)');
  });

  it('maxTokens truncate keeps the first tokens and counts them; drop counts too', async () => {
    const examples = [
      { prompt: 'short', completion: ' ok' },
      { prompt: 'a much longer prompt that goes on and on', completion: ' and a much longer completion that also goes on' },
    ];
    const t = await prepare({ format: 'completion', source: { examples }, maxTokens: 30, overLength: 'truncate', split: { valid: 0 } } as never);
    expect(t.train.map((r) => r.ids.length)).toEqual([t.train[0].ids.length, 30]);
    expect(t.stats.maxTokens).toMatchObject({ limit: 30, truncated: 1, dropped: 0 });
    const d = await prepare({ format: 'completion', source: { examples }, maxTokens: 30, split: { valid: 0 } } as never);
    expect(d.train).toHaveLength(1);
    expect(d.stats.maxTokens).toMatchObject({ dropped: 1, truncated: 0 });
  });

  it('the valid split is seeded, deterministic, stable when records are added, and round(fraction * n) big', async () => {
    const run = (n: number, seed: number) => prepare({ format: 'text', source: { examples: stories.slice(0, n) }, split: { valid: 0.15, seed } } as never);
    const texts = (p: Awaited<ReturnType<typeof run>>, part: 'train' | 'valid') => p[part].map((r) => r.text);
    const a = await run(200, 1);
    const b = await run(200, 1);
    const c = await run(200, 2);
    expect(a.stats.lengths.valid.count).toBe(30);
    expect(a.stats.lengths.train.count).toBe(170);
    expect(texts(a, 'valid')).toEqual(texts(b, 'valid'));
    expect(texts(a, 'train')).toEqual(texts(b, 'train'));
    expect(texts(c, 'valid')).not.toEqual(texts(a, 'valid'));
  });

  it('limit takes a seeded sample in source order, or the first N', async () => {
    const seen = async (sample: string, seed: number) =>
      (
        await prepare({ format: 'text', source: { examples: stories }, limit: 20, sample, seed, split: { valid: 0 }, seqLen: 4096 } as never)
      ).train[0].text.match(/Story number \d+/g)!;
    const r1 = await seen('random', 7);
    expect(r1).toHaveLength(20);
    expect(await seen('random', 7)).toEqual(r1);
    expect(await seen('random', 8)).not.toEqual(r1);
    const nums = r1.map((s) => Number(s.split(' ').pop()));
    expect([...nums].sort((x, y) => x - y)).toEqual(nums);
    expect(await seen('first', 7)).toEqual(stories.slice(0, 20).map((_, i) => `Story number ${i}`));
  });

  it('explicit valid files instead of a fraction', async () => {
    const dir = tempProject({
      'data/train.jsonl': stories
        .slice(0, 10)
        .map((s) => JSON.stringify(s))
        .join('\n'),
      'data/valid.jsonl': stories
        .slice(10, 13)
        .map((s) => JSON.stringify(s))
        .join('\n'),
    });
    const p = await prepare(
      { format: 'text', source: { files: ['data/train.jsonl'] }, split: { source: { files: ['data/valid.jsonl'] } }, seqLen: 4096 } as never,
      dir,
    );
    expect(p.stats.lengths.train.count).toBe(10);
    expect(p.stats.lengths.valid.count).toBe(3);
    expect(p.valid[0].text).toContain('Story number 10');
    expect(p.stats.split.mode).toBe('source');
  });

  it('markdown / HTML stripping, near-duplicate removal and length filters through the config, with counts', async () => {
    const body = 'Lily found a needle in her room and wanted to share it with her mom because it was difficult to play with';
    const dir = tempProject({
      'notes/a.md': `# Title\n\n**${body}.**\n\n[link](http://x.io)`,
      'notes/b.md': `# Title\n\n${body}!\n\nlink`,
      'notes/c.md': 'tiny',
      'notes/d.html': '<p>Hello &amp; <b>bye</b></p>',
    });
    const md = await prepare(
      {
        source: { files: ['notes/*.md'] },
        clean: { strip: 'markdown', dedup: 'near', nearDupThreshold: 0.8, minChars: 10 },
        split: { valid: 0 },
        seqLen: 4096,
      } as never,
      dir,
    );
    expect(md.stats.steps.find((s) => s.step === 'length/train')).toEqual({
      step: 'length/train',
      in: 3,
      out: 2,
      removed: { 'minChars 10': 1, 'maxChars null': 0 },
    });
    expect(md.stats.steps.find((s) => s.step === 'dedup/train')).toEqual({
      step: 'dedup/train',
      in: 2,
      out: 1,
      removed: { 'exact duplicate': 0, 'near duplicate': 1 },
    });
    expect(md.train[0].text).toBe(`<s> Title\n\n${body}.\n\nlink</s>`);
    const html = await prepare({ source: { files: ['notes/d.html'], fileFormat: 'txt' }, clean: { strip: 'html' }, split: { valid: 0 } } as never, dir);
    expect(html.train[0].text).toBe('<s> Hello & bye</s>');
  });

  it('PII redaction puts typed placeholders into the training text and counts by type', async () => {
    const examples = [
      { text: 'Mail tom@cats.io or call 555-123-4567.' },
      { text: 'Server 10.1.2.3 and card 4111 1111 1111 1111 and bob@x.org.' },
      { text: 'Version 1.2.3 costs $4.99 on 2024-01-02.' },
    ];
    const p = await prepare({ format: 'text', source: { examples }, clean: { pii: 'redact' }, split: { valid: 0 }, seqLen: 4096 } as never);
    expect(p.stats.pii).toEqual({ mode: 'redact', byType: { email: 2, phone: 1, ipv4: 1, card: 1 }, records: 2 });
    expect(p.train[0].text).toContain('Mail <EMAIL> or call <PHONE>.');
    expect(p.train[0].text).toContain('Server <IP_ADDRESS> and card <CREDIT_CARD> and <EMAIL>.');
    expect(p.train[0].text).toContain('Version 1.2.3 costs $4.99 on 2024-01-02.');
  });
});
