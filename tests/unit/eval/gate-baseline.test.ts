// What the eval gate compares a composition with: the previous eval's row only where it scored the same held-out
// records the same way; otherwise the previous version is to be scored again, with the reason.
import { describe, expect, it } from 'vitest';
import { planBaselines, scoringSettings } from '../../../stages/eval/gate-baseline.ts';

const k = (s: string) => s.padEnd(64, '0');
const previous = {
  config: { maxExamples: 50 },
  upstream: { 'compositions.a': k('c1'), 'datasets.qa': k('d1') },
  rows: [{ subject: 'a', kind: 'composition', dataset: 'qa', perplexity: 12.5 }],
};
const settings = scoringSettings({ maxExamples: 50 });

describe('gate baselines', () => {
  it("uses the previous eval's row when the data and the scoring are unchanged", () => {
    expect(planBaselines(['a'], ['qa'], { keys: { 'compositions.a': k('c2'), 'datasets.qa': k('d1') }, settings }, previous)).toEqual([
      { composition: 'a', dataset: 'qa', use: 'previous-eval', key: k('c1'), perplexity: 12.5 },
    ]);
  });
  it('scores the previous version again when the held-out data, the scoring or the dataset list changed', () => {
    const plan = (keys: Record<string, string>, s = settings, datasets = ['qa']) =>
      planBaselines(['a'], datasets, { keys: { 'compositions.a': k('c2'), ...keys }, settings: s }, previous);
    expect(plan({ 'datasets.qa': k('d2') })).toEqual([
      { composition: 'a', dataset: 'qa', use: 'rescore', key: k('c1'), why: 'datasets.qa changed since the previous eval' },
    ]);
    expect(plan({ 'datasets.qa': k('d1') }, scoringSettings({ maxExamples: 20, quant: 'nf4' }))[0]).toMatchObject({
      use: 'rescore',
      why: 'the previous eval scored with other settings (maxExamples 50 → 20, quant none → nf4)',
    });
    expect(plan({ 'datasets.qa': k('d1'), 'datasets.docs': k('x') }, settings, ['docs'])[0]).toMatchObject({
      use: 'rescore',
      why: 'the previous eval did not score datasets.docs',
    });
  });
  it('compares nothing without a previous eval, or when the composition is the same version', () => {
    expect(planBaselines(['a'], ['qa'], { keys: { 'compositions.a': k('c2') }, settings }, undefined)[0].use).toBe('none');
    expect(planBaselines(['a'], ['qa'], { keys: { 'compositions.a': k('c1'), 'datasets.qa': k('d2') }, settings }, previous)[0].use).toBe('same-version');
  });
});
