// Reading artifact files for the report: tokens accumulate, a bad line is named, the loss marks split samples.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lossParts, readSamples, readTrainLog, readValidLog } from '../../../src/report/read-artifacts.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

describe('read-artifacts', () => {
  it('accumulates tokens and derives tokens/s per step; validation points get the tokens of their step', () => {
    const dir = tempDir('peftmake-report-read-');
    writeFileSync(
      join(dir, 'train_log.jsonl'),
      ['{"step":1,"loss":3,"lr":0,"tokens":100,"seconds":0.5}', '{"step":2,"loss":2.5,"lr":0.1,"tokens":50,"seconds":0.25}', ''].join('\n'),
    );
    writeFileSync(join(dir, 'valid_log.json'), '[{"step":2,"loss":2.75},{"step":9,"loss":1}]');
    const train = readTrainLog(dir);
    expect(train).toEqual([
      { step: 1, loss: 3, lr: 0, tokens: 100, tokensPerS: 200 },
      { step: 2, loss: 2.5, lr: 0.1, tokens: 150, tokensPerS: 200 },
    ]);
    expect(readValidLog(dir, train)).toEqual([
      { step: 2, loss: 2.75, tokens: 150 },
      { step: 9, loss: 1, tokens: null },
    ]);
  });

  it('names the file and line of a damaged train log', () => {
    const dir = tempDir('peftmake-report-read-');
    writeFileSync(join(dir, 'train_log.jsonl'), '{"step":1,"loss":3}\n{"step":2,\n');
    expect(() => readTrainLog(dir)).toThrow(`${join(dir, 'train_log.jsonl')}:2: not a JSON object`);
    writeFileSync(join(dir, 'train_log.jsonl'), '{"step":1}\n');
    expect(() => readTrainLog(dir)).toThrow(/:1: a step record needs numeric "step" and "loss"/);
  });

  it('splits samples at the loss marks and keeps the first per split', () => {
    expect(lossParts('Q: a?\nA: ⟦yes</s>⟧')).toEqual([
      { text: 'Q: a?\nA: ', loss: false },
      { text: 'yes</s>', loss: true },
    ]);
    expect(lossParts('⟦all⟧')).toEqual([{ text: 'all', loss: true }]);
    const dir = tempDir('peftmake-report-read-');
    writeFileSync(
      join(dir, 'samples.txt'),
      'Loss-carrying tokens are between ⟦ and ⟧.\n\n--- train[0]: 3 tokens, 1 with loss ---\nx ⟦y⟧\n\n--- train[1]: 2 tokens ---\nz\n\n--- valid[0]: 1 tokens ---\n⟦w⟧\n',
    );
    expect(readSamples(dir, 1)).toEqual([
      {
        label: 'train[0]: 3 tokens, 1 with loss',
        parts: [
          { text: 'x ', loss: false },
          { text: 'y', loss: true },
        ],
      },
      { label: 'valid[0]: 1 tokens', parts: [{ text: 'w', loss: true }] },
    ]);
  });
});
