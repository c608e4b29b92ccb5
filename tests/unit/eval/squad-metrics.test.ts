// SQuAD v1.1 exact match / token F1 definitions, the prediction clean-up of the eval stage and the eval gate.
import { describe, expect, it } from 'vitest';
import { bestOver, exactMatch, normalizeAnswer, tokenF1 } from '../../../stages/eval/squad-metrics.ts';
import { cleanPrediction } from '../../../stages/eval/eval-stage.ts';
import { checkGate } from '../../../stages/eval/gate.ts';
import type { UpstreamArtifact } from '../../../src/stage.ts';

describe('SQuAD metrics', () => {
  it('normalises case, punctuation, articles and whitespace', () => {
    expect(normalizeAnswer('  The  Artifact-Store! ')).toBe('artifactstore');
    expect(normalizeAnswer('a frozen, domain adapter.')).toBe('frozen domain adapter');
    expect(normalizeAnswer('an apple and the theory')).toBe('apple and theory');
  });
  it('exact match and token F1 as the official script', () => {
    expect(exactMatch('the park', 'Park.')).toBe(1);
    expect(exactMatch('the big park', 'park')).toBe(0);
    expect(tokenF1('the big park', 'park')).toBeCloseTo(2 / 3, 12); // p = 1/2, r = 1
    expect(tokenF1('park park', 'park')).toBeCloseTo(2 / 3, 12); // p = 1/2 (one common), r = 1
    expect(tokenF1('zoo', 'park')).toBe(0);
    expect(tokenF1('', 'park')).toBe(0);
    expect(bestOver('SHA-256', ['SHA 256', 'sha256'], exactMatch)).toBe(1);
    expect(bestOver('x', [], tokenF1)).toBe(0);
  });
  it('cuts predictions at the first line break and at undecodable bytes', () => {
    expect(cleanPrediction(' the beach\uFFFDce$')).toBe('the beach');
    expect(cleanPrediction(' restored\nQuestion: x')).toBe('restored');
  });
});

describe('eval gate', () => {
  const up = {
    'compositions.a': {
      name: 'compositions.a',
      kind: 'composition',
      key: 'k2'.padEnd(64, '0'),
      version: 2,
      dir: '/x',
      manifest: {} as never,
    } as UpstreamArtifact,
  };
  const prevUp = { 'compositions.a': 'k1'.padEnd(64, '0') };
  const rows = (ppl: number, em: number) => [{ subject: 'a', kind: 'composition', dataset: 'docs', perplexity: ppl, exact_match: em }];
  const base = (ppl: number) => [{ composition: 'a', dataset: 'docs', key: prevUp['compositions.a'], perplexity: ppl }];
  it('keeps the previous composition when perplexity rises more than allowed, and says so', () => {
    const g = checkGate({ maxPerplexityIncrease: 0.02 }, rows(10.3, 0), base(10), up, ['a'], prevUp);
    expect(g.passed).toBe(false);
    expect(g.keep).toEqual({ 'compositions.a': prevUp['compositions.a'] });
    expect(g.messages[0]).toMatch(
      /^gate: compositions\.a v2: docs perplexity 10\.300 is 3\.0% above the previous 10\.000 \(allowed \+2\.0%\); keeping the previous version \(k10000000000\) current$/,
    );
  });
  it('passes within the allowance and without a gate', () => {
    expect(checkGate({ maxPerplexityIncrease: 0.02 }, rows(10.19, 0), base(10), up, ['a'], prevUp)).toMatchObject({
      passed: true,
      keep: {},
      messages: ['gate: passed'],
    });
    expect(checkGate({}, rows(50, 0), base(10), up, ['a'], prevUp)).toMatchObject({ passed: true, messages: [] });
  });
  it('fails an exact-match floor', () => {
    const g = checkGate({ minExactMatch: 0.5 }, rows(10, 0.25), [], up, ['a'], undefined);
    expect(g.passed).toBe(false);
    expect(g.messages[0]).toMatch(/exact match 0\.250 is below the gate's 0\.5; no earlier version to keep/);
  });
});
