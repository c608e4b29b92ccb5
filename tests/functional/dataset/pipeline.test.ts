// The dataset stage inside a real pipeline: built by the core from pipeline.json (model stage upstream, files
// hashed), incremental (an unrelated edit keeps it fresh, a data edit rebuilds it), and `peftmake show`.
import { afterAll, describe, expect, it } from 'vitest';
import { TempProject, actions, stage } from '../../helpers/project.ts';
import { haveFixtures, STORIES_HF } from './helpers.ts';

const qaLines = (n: number, extra = '') =>
  Array.from({ length: n }, (_, i) =>
    JSON.stringify({ context: `Tom${i} is a cat${extra}. Mail tom${i}@cats.io.`, question: `Who is Tom${i}?`, answers: { text: [`a cat${extra}`] } }),
  ).join('\n') + '\n';

describe.skipIf(!haveFixtures)('dataset stage in a pipeline (needs ../shared/fixtures)', () => {
  const p = new TempProject('peftmake-ds-pipe-');
  afterAll(() => p.cleanup());

  it('builds through the core, stays fresh, rebuilds on a data change, and `show` prints stats and marked samples', async () => {
    p.write('data/qa.jsonl', qaLines(20));
    p.write('notes.txt', 'unrelated');
    p.pipeline({
      models: { base: { path: STORIES_HF } },
      datasets: { qa: { source: { files: ['data/*.jsonl'] }, format: 'qa', model: 'base', clean: { pii: 'redact' }, split: { valid: 0.1, seed: 1 } } },
    });
    const first = await p.build();
    expect(first.ok).toBe(true);
    expect(actions(first)).toMatchObject({ 'models.base': 'built', 'datasets.qa': 'built' });
    const again = await p.build();
    expect(actions(again)).toMatchObject({ 'datasets.qa': 'fresh' });
    p.write('notes.txt', 'still unrelated');
    expect(actions(await p.build())).toMatchObject({ 'datasets.qa': 'fresh' });
    p.write('data/qa.jsonl', qaLines(20, ' indeed'));
    const third = await p.build();
    expect(actions(third)).toMatchObject({ 'models.base': 'fresh', 'datasets.qa': 'built' });
    expect(stage(third, 'datasets.qa').version).toBe(2);

    const shown = await p.cli(['show', 'datasets.qa']);
    expect(shown.stderr).toBe('');
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('datasets.qa v2');
    expect(shown.stdout).toMatch(/read\/train\s+20 -> 20/);
    expect(shown.stdout).toContain('pii (redact): email 20 in 20 record(s)');
    expect(shown.stdout).toContain('Loss-carrying tokens are between ⟦ and ⟧.');
    expect(shown.stdout).toMatch(/Question: Who is Tom\d+\?\nAnswer: ⟦a cat indeed<\/s>⟧/);
    expect(shown.stdout).toContain('Mail <EMAIL>.');

    const json = JSON.parse((await p.cli(['show', 'datasets.qa', 'v1', '--json', '--samples', '1'])).stdout);
    expect(json).toMatchObject({ stage: 'datasets.qa', version: 1, stats: { format: 'qa', output: { train: 18, valid: 2 } } });
    expect(json.samples).toHaveLength(2);
    expect(json.samples[0]).toMatch(/Answer: ⟦a cat<\/s>⟧/);

    const diff = await p.cli(['diff', 'datasets.qa', 'v1', 'v2']);
    expect(diff.code).toBe(0);
    // Each answer grew from 4 tokens ("a cat" + EOS) to 9 ("a cat indeed" + EOS), over 18 train answers.
    expect(diff.stdout).toMatch(/trainLossTokens: 72 -> 162 \(\+125\.0%\)/);

    const bad = await p.cli(['show', 'models.base']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('show prints dataset artifacts; "models.base" is not a datasets.* stage');
  });
});
