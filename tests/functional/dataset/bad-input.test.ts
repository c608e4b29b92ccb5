// Every bad-input case with its exact message: malformed JSONL / CSV / JSON, missing fields and globs, empty
// results naming the filter; and onError "skip" counting instead of failing.
import { describe, expect, it } from 'vitest';
import { PeftError } from '../../../src/errors.ts';
import { haveFixtures, prepare, tempProject } from './helpers.ts';

async function failure(p: Promise<unknown>): Promise<PeftError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(PeftError);
    return err as PeftError;
  }
  throw new Error('expected a PeftError');
}

const goodQa = (i: number) => JSON.stringify({ context: `Context number ${i} about things.`, question: `What is ${i}?`, answers: { text: [`thing ${i}`] } });

describe.skipIf(!haveFixtures)('bad input (needs the stories260K tokenizer from ../shared/fixtures)', () => {
  it('a malformed JSONL line names file and line', async () => {
    const dir = tempProject({ 'data/qa.jsonl': [goodQa(1), goodQa(2), '{"context": "x", "question": ', goodQa(4)].join('\n') + '\n' });
    const err = await failure(prepare({ format: 'qa', source: { files: ['data/qa.jsonl'] } } as never, dir));
    expect(err.code).toBe('E_DATA');
    expect(err.message).toMatch(/^data\/qa\.jsonl:3: not valid JSON \(/);
    expect(err.details).toMatchObject({ file: 'data/qa.jsonl', line: 3 });
  });

  it('onError "skip" skips and counts malformed lines, records without a field, and non-objects', async () => {
    const dir = tempProject({ 'data/qa.jsonl': [goodQa(1), 'nope', goodQa(3), '[1,2]', '{"context": "c", "question": "q"}', goodQa(6)].join('\n') });
    const p = await prepare({ format: 'qa', source: { files: ['data/qa.jsonl'] }, onError: 'skip', split: { valid: 0 } } as never, dir);
    expect(p.train.length).toBe(3);
    expect(p.stats.badRecords.count).toBe(3);
    expect(p.stats.badRecords.examples.map((e) => e.where)).toEqual(['data/qa.jsonl:2', 'data/qa.jsonl:4', 'data/qa.jsonl:5']);
    expect(p.stats.badRecords.examples[2].reason).toBe('missing field "answers"');
    expect(p.stats.steps[0]).toEqual({ step: 'read/train', in: 6, out: 3, removed: { 'bad record': 3 } });
  });

  it('a missing field names the record and the mapping', async () => {
    const dir = tempProject({ 'data/qa.jsonl': JSON.stringify({ ctx: 'a', q: 'b', answers: ['c'] }) + '\n' });
    const err = await failure(prepare({ format: 'qa', source: { files: ['data/qa.jsonl'] }, fields: { question: 'q' } } as never, dir));
    expect(err.message).toBe('data/qa.jsonl:1: missing field "context"; the record has ctx, q, answers');
    expect(err.details.hint).toBe('map the field with "fields": {"context": "<name>"}');
  });

  it('field mapping with dotted paths', async () => {
    const dir = tempProject({ 'data/qa.jsonl': [1, 2, 3].map((i) => JSON.stringify({ body: { ctx: `ctx ${i}` }, q: `q ${i}?`, a: [`a${i}`] })).join('\n') });
    const p = await prepare(
      { format: 'qa', source: { files: ['data/qa.jsonl'] }, fields: { context: 'body.ctx', question: 'q', answers: 'a' }, split: { valid: 0 } } as never,
      dir,
    );
    expect(p.train.map((r) => r.text)).toEqual([1, 2, 3].map((i) => `Context: ctx ${i}\nQuestion: q ${i}?\nAnswer: a${i}`));
  });

  it('a broken JSON file names the line of the error', async () => {
    const dir = tempProject({ 'data/a.json': '[\n  {"instruction": "a", "output": "b"},\n  {"instruction": "c", "output": }\n]\n' });
    const err = await failure(prepare({ format: 'instruction', source: { files: ['data/a.json'] } } as never, dir));
    expect(err.message).toMatch(/^data\/a\.json:3: not valid JSON \(/);
  });

  it('a JSON file that is neither an array nor SQuAD says what it expected', async () => {
    const dir = tempProject({ 'data/a.json': '{"rows": []}' });
    const err = await failure(prepare({ format: 'instruction', source: { files: ['data/a.json'] } } as never, dir));
    expect(err.message).toBe('data/a.json:1: expected a JSON array of records or a SQuAD {"data": [...]} object, got an object with keys rows');
  });

  it('CSV: RFC 4180 quoting, embedded newlines and commas; a short row names its line', async () => {
    const csv = 'prompt,completion\r\n"Say ""hi""","hi, there"\r\n"two\nlines",ok\r\nlonely\r\nlast,one\r\n';
    const dir = tempProject({ 'data/c.csv': csv });
    const err = await failure(prepare({ format: 'completion', source: { files: ['data/c.csv'] } } as never, dir));
    expect(err.message).toBe('data/c.csv:5: row has 1 fields, the header has 2 (prompt, completion)');
    const p = await prepare(
      { format: 'completion', source: { files: ['data/c.csv'] }, onError: 'skip', split: { valid: 0 }, clean: { whitespace: false } } as never,
      dir,
    );
    expect(p.train.map((r) => r.text)).toEqual(['Say "hi"hi, there', 'two\nlinesok', 'lastone']);
    expect(p.stats.badRecords.count).toBe(1);
  });

  it('CSV: an unterminated quote and a stray quote name their lines', async () => {
    const dir = tempProject({ 'data/u.csv': 'prompt,completion\na,b\n"open,c\nd,e\n', 'data/s.csv': 'prompt,completion\na,b\nx"y,z\nc,d\n' });
    expect((await failure(prepare({ format: 'completion', source: { files: ['data/u.csv'] } } as never, dir))).message).toBe(
      'data/u.csv:3: unterminated quoted field (a " opens a field that never closes)',
    );
    expect((await failure(prepare({ format: 'completion', source: { files: ['data/s.csv'] } } as never, dir))).message).toBe(
      'data/s.csv:3: a " inside an unquoted field',
    );
    const p = await prepare({ format: 'completion', source: { files: ['data/s.csv'] }, onError: 'skip', split: { valid: 0 } } as never, dir);
    expect(p.train.map((r) => r.text)).toEqual(['ab', 'cd']);
  });

  it('a glob that matches nothing and a missing file name the pattern', async () => {
    const dir = tempProject({ 'data/x.txt': 'hello' });
    const e1 = await failure(prepare({ source: { files: ['data/*.md'] } } as never, dir));
    expect(e1.code).toBe('E_INPUT_MISSING');
    expect(e1.message).toBe('datasets.test: input glob "data/*.md" matches no file');
    const e2 = await failure(prepare({ source: { files: ['data/none.txt'] } } as never, dir));
    expect(e2.message).toBe('datasets.test: input "data/none.txt" does not exist');
  });

  it('a dataset emptied by a filter says which filter removed how many', async () => {
    const dir = tempProject({ 'data/t.jsonl': ['short', 'tiny', 'small'].map((text) => JSON.stringify({ text })).join('\n') });
    const err = await failure(prepare({ source: { files: ['data/t.jsonl'] }, clean: { minChars: 10 } } as never, dir));
    expect(err.message).toBe('datasets.test: no records left after length/train: it removed 3 of 3 (minChars 10: 3)');
    const dir2 = tempProject({ 'data/t.jsonl': ['mail a@b.io', 'call 555-123-4567'].map((text) => JSON.stringify({ text })).join('\n') });
    const err2 = await failure(prepare({ source: { files: ['data/t.jsonl'] }, clean: { pii: 'drop' } } as never, dir2));
    expect(err2.message).toBe('datasets.test: no records left after clean+pii/train: it removed 2 of 2 (pii (drop): 2)');
    const dir3 = tempProject({ 'data/q.jsonl': goodQa(1) + '\n' + goodQa(2) });
    const err3 = await failure(prepare({ format: 'qa', source: { files: ['data/q.jsonl'] }, maxTokens: 8, split: { valid: 0 } } as never, dir3));
    expect(err3.message).toBe('datasets.test: no records left after tokens/train: it removed 2 of 2 (over maxTokens 8 (drop): 2)');
  });

  it('a file that is not UTF-8 names the line', async () => {
    const dir = tempProject({ 'data/latin1.txt': Buffer.concat([Buffer.from('fine line\ncaf'), Buffer.from([0xe9]), Buffer.from(' au lait\n')]) });
    const err = await failure(prepare({ source: { files: ['data/latin1.txt'] } } as never, dir));
    expect(err.message).toBe('data/latin1.txt:2: not valid UTF-8');
  });

  it('an empty source file is an error naming the source', async () => {
    const dir = tempProject({ 'data/e.jsonl': '\n\n' });
    const err = await failure(prepare({ source: { files: ['data/e.jsonl'] } } as never, dir));
    expect(err.message).toBe('datasets.test: the train source (files data/e.jsonl) has no records');
  });
});
