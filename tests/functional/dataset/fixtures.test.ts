// The dataset stage on real data (../shared/fixtures): SQuAD dev as qa with answers exactly inside the loss mask,
// Alpaca as instruction, wikitext and tinystories as packed text with the stories260K tokenizer.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cleanText } from '../../../stages/dataset/clean.ts';
import { IGNORE } from '../../../stages/dataset/tokenize.ts';
import { FIXTURES, haveFixtures, prepare, runStage, storiesTokenizer, tempProject } from './helpers.ts';

const SQUAD = join(FIXTURES, 'squad-v1.1/dev-v1.1.json');
const ALPACA = join(FIXTURES, 'alpaca-en-demo/alpaca_en_demo.json');
const WIKI = join(FIXTURES, 'wikitext-2-raw-v1');
const STORIES = join(FIXTURES, 'tinystories-sample/tinystories.txt');

function lossIds(r: { labels: number[] }): number[] {
  return r.labels.filter((l) => l !== IGNORE);
}

describe.skipIf(!haveFixtures)('dataset stage on the fixtures (needs ../shared/fixtures)', () => {
  it('squad dev as qa: 1,000 sampled questions, the loss mask is exactly the first answer + EOS', async () => {
    const tok = storiesTokenizer();
    const p = await prepare({ format: 'qa', source: { files: [SQUAD] }, limit: 1000, split: { valid: 0.15, seed: 1 } } as never);
    expect(p.train.length + p.valid.length).toBe(1000);
    expect(p.valid.length).toBe(150);
    // Every answer of the official file, cleaned the way the stage cleans it.
    const answers = new Set<string>();
    for (const a of JSON.parse(readFileSync(SQUAD, 'utf8')).data)
      for (const para of a.paragraphs) for (const qa of para.qas) answers.add(cleanText(qa.answers[0].text, { nfc: true, whitespace: true, strip: 'none' }));
    for (const r of [...p.train, ...p.valid]) {
      expect(r.labels.length).toBe(r.ids.length);
      const firstLoss = r.labels.findIndex((l) => l !== IGNORE);
      // The prompt carries no loss, everything from the answer on does, and the last token is EOS.
      expect(r.labels.slice(0, firstLoss).every((l) => l === IGNORE)).toBe(true);
      expect(r.labels.slice(firstLoss)).toEqual(r.ids.slice(firstLoss));
      expect(r.ids[0]).toBe(tok.bosId);
      expect(r.ids[r.ids.length - 1]).toBe(tok.eosId);
      const answer = tok.decode(lossIds(r).slice(0, -1), { skipSpecial: true });
      expect(answers.has(answer)).toBe(true);
      expect(r.text.endsWith(`Answer: ${answer}`)).toBe(true);
      // The prompt part decodes to the prompt: the answer is not in it.
      expect(tok.decode(r.ids.slice(1, firstLoss), { skipSpecial: false })).toBe(r.text.slice(0, r.text.length - answer.length - 1));
    }
    expect(p.stats.steps.find((s) => s.step === 'limit')).toMatchObject({ in: 10547, out: 1000 });
    expect(p.stats.steps.find((s) => s.step === 'dedup/train')).toMatchObject({ in: 10570, out: 10547, removed: { 'exact duplicate': 23 } });
  });

  it('alpaca as instruction: loss on the output (+ EOS) only, the no-input template where input is empty', async () => {
    const tok = storiesTokenizer();
    const items = JSON.parse(readFileSync(ALPACA, 'utf8')) as { instruction: string; input: string; output: string }[];
    const p = await prepare({ format: 'instruction', source: { files: [ALPACA] }, split: { valid: 0 } } as never);
    expect(p.stats.steps[0]).toMatchObject({ step: 'read/train', in: 999, out: 999 });
    expect(p.valid.length).toBe(0);
    const outputs = new Set(items.map((i) => cleanText(i.output, { nfc: true, whitespace: true, strip: 'none' })));
    let withInput = 0;
    for (const r of p.train) {
      const out = tok.decode(lossIds(r).slice(0, -1), { skipSpecial: true });
      expect(outputs.has(out)).toBe(true);
      expect(r.text.endsWith(`### Response:\n${out}`)).toBe(true);
      if (r.text.includes('### Input:')) withInput++;
    }
    const expectedWithInput = new Set(
      items
        .filter((i) => i.input.trim() !== '')
        .map((i) => JSON.stringify([i.instruction, i.input, i.output].map((t) => cleanText(t, { nfc: true, whitespace: true, strip: 'none' })))),
    ).size;
    expect(withInput).toBe(expectedWithInput);
  });

  it('wikitext valid + test as text: packed 512-token sequences, EOS after every document, loss on every token', async () => {
    const tok = storiesTokenizer();
    const p = await prepare({ format: 'text', source: { files: [join(WIKI, 'wiki.*.raw')], documents: 'paragraph' }, split: { valid: 0.1, seed: 3 } } as never);
    expect(p.stats.sources[0].files.map((f) => f.file.split('/').pop())).toEqual(['wiki.test.raw', 'wiki.valid.raw']);
    expect(p.stats.sources[0].bytes).toBe(1290590 + 1146846);
    for (const [recs, part] of [
      [p.train, 'train'],
      [p.valid, 'valid'],
    ] as const) {
      recs.slice(0, -1).forEach((r) => expect(r.ids.length).toBe(512));
      for (const r of recs) expect(r.labels).toEqual(r.ids);
      const all = recs.flatMap((r) => r.ids);
      const docs = p.stats.lengths[part].count;
      expect(all.filter((id) => id === tok.eosId).length).toBe(docs);
      expect(all.filter((id) => id === tok.bosId).length).toBe(docs);
      expect(all.length).toBe(p.stats.lengths[part].tokens);
    }
    expect(p.stats.lengths.valid.count).toBe(Math.round(0.1 * (p.stats.lengths.train.count + p.stats.lengths.valid.count)));
  });

  it('tinystories as text through the stage: files in the artifact, stats, and the decoded text round-trips', async () => {
    const project = tempProject({ 'data/stories.txt': readFileSync(STORIES) });
    const run = await runStage(project, {
      format: 'text',
      source: { files: ['data/*.txt'], documents: 'paragraph' },
      seqLen: 256,
      clean: { pii: 'redact' },
      split: { valid: 0 },
    });
    const tok = storiesTokenizer();
    expect(run.train.length).toBeGreaterThan(50);
    expect(run.train.slice(0, -1).every((r) => r.ids.length === 256)).toBe(true);
    expect(run.train[0].text).toBe(tok.decode(run.train[0].ids, { skipSpecial: false }));
    expect(run.train[0].text.startsWith('<s> One day, a little girl named Lily found a needle in her room.')).toBe(true);
    expect(run.stats.output.train).toBe(run.train.length);
    expect(run.result.metrics).toMatchObject({ train_examples: run.train.length, valid_examples: run.valid.length, bad_records: 0 });
    expect(run.statsText).toContain('output: train.jsonl');
    expect(run.stats.sources[0].files).toEqual([{ file: 'data/stories.txt', records: expect.any(Number), bytes: 197290 }]);
  });
});
