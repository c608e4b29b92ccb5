// Fault injection, token ids the model has no embedding for: a tokenizer.json that does not belong to the weights, and
// a dataset tokenized for another model. Each is an error naming the record (or dataset line), the tokenizer or model
// and the fix, never the engine's "ids[50] = 600 is not a token id" (old code: the dataset built, and training failed
// with that) nor a flag the user never passed.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_ADDON, TRAIN, World, peftmake } from './harness.ts';

describe.skipIf(NO_ADDON !== '')(`token ids outside the vocabulary${NO_ADDON ? ` (skipped: ${NO_ADDON})` : ''}`, () => {
  let w: World;
  let tokenizer: string;
  beforeAll(() => {
    w = new World({
      models: { base: { path: 'models/tiny' } },
      datasets: { notes: { model: 'base', source: { files: ['notes/n9.md'] }, format: 'text', seqLen: 32, split: { valid: 0 } } },
    });
    writeFileSync(w.path('notes/n9.md'), 'the tree e e e\n');
    tokenizer = readFileSync(w.path('models/tiny/tokenizer.json'), 'utf8');
    const t = JSON.parse(tokenizer);
    t.model.vocab.e = 600; // a tokenizer with more ids than the model's 512 embedding rows
    writeFileSync(w.path('models/tiny/tokenizer.json'), JSON.stringify(t));
  });
  afterAll(() => w?.cleanup());

  it('a dataset whose tokenizer gives ids past vocab_size fails at the record, naming the tokenizer and the fix', async () => {
    const r = await peftmake(w.dir, ['build', '--json']);
    expect(r.code).toBe(1);
    const s = r.json!.stages.find((x) => x.name === 'datasets.notes')!;
    expect(s.action).toBe('failed');
    expect(s.error).toBe(
      'notes/n9.md:1: the tokenizer models/tiny/tokenizer.json turns this record into token id 600 ("e"), but models.base has 512 token ids ' +
        "(config.json vocab_size): that tokenizer.json does not belong to the model's weights; use the tokenizer saved with them",
    );
  });

  it('score blames the tokenizer for ids it made, and --ids only for ids the user gave', async () => {
    const t = await peftmake(w.dir, ['score', '--model', 'models/tiny', '--file', 'notes/n9.md']);
    expect(t.code).toBe(1);
    expect(t.stderr).toContain(
      'error[E_MODEL]: the tokenizer models/tiny/tokenizer.json turned the text into token id 600, but the model has 512 token ids (config.json vocab_size)',
    );
    expect(t.stderr).toContain("hint: that tokenizer.json does not belong to the model's weights");
    expect(t.stderr).not.toContain('--ids');
    const i = await peftmake(w.dir, ['score', '--model', 'models/tiny', '--ids', '1,600']);
    expect(i.stderr).toContain('error[E_USAGE]: --ids: id 600 is outside the vocabulary (size 512)');
  });

  it('an adapter over a dataset tokenized for another model names the dataset line and the fix', async () => {
    writeFileSync(w.path('models/tiny/tokenizer.json'), tokenizer);
    w.pipeline({
      models: { base: { path: 'models/tiny' }, small: { init: { hiddenSize: 16, intermediateSize: 32, numLayers: 1, numHeads: 2, vocabSize: 300, seed: 0 } } },
      datasets: { notes: { model: 'base', source: { files: ['notes/n0.md'] }, format: 'text', seqLen: 32, split: { valid: 0 } } },
      adapters: { domain: { base: 'small', data: 'notes', maxSteps: 1, ...TRAIN } },
    });
    const r = await peftmake(w.dir, ['build', '--json']);
    expect(r.code).toBe(1);
    expect(r.json!.stages.find((x) => x.name === 'adapters.domain')!.error).toMatch(
      /^\S+\/train\.jsonl:1: token id \d+ is outside the vocabulary of models\.small \(300 token ids\); datasets\.notes is tokenized for models\.base: give it "model": "small", the adapter's base$/,
    );
  });
});
