// The engine's CLI commands as functions: `generate` (text or ids, adapters DIR:SCALE, stop strings, JSON shape, the
// int8 compute mode) and `score` (ids / text, windowed scoring of long inputs), plus their usage errors.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runGenerate } from '../../src/cli/commands/generate.ts';
import { runScore } from '../../src/cli/commands/score.ts';
import { parseAdapterSpec } from '../../src/cli/engine-args.ts';
import { PEFT, STORIES, skipReason } from './fixtures.ts';

const GREEDY = [432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337];

describe('adapter specs', () => {
  it('parses DIR and DIR:SCALE', () => {
    expect(parseAdapterSpec('a/b')).toEqual({ dir: 'a/b', weight: 1 });
    expect(parseAdapterSpec('a/b:0.5')).toEqual({ dir: 'a/b', weight: 0.5 });
    expect(parseAdapterSpec('C:/x:2')).toEqual({ dir: 'C:/x', weight: 2 });
    expect(parseAdapterSpec('a:b')).toEqual({ dir: 'a:b', weight: 1 });
  });
});

describe.skipIf(skipReason !== '')('generate / score commands' + (skipReason ? ` (skipped: ${skipReason})` : ''), () => {
  it('generate --prompt --json gives the greedy ids, prompt ids and decoded text', async () => {
    const out = await runGenerate({ model: STORIES, prompt: 'Once upon a time', maxTokens: 16, json: true });
    expect(out.prompt_tokens).toEqual([1, 403, 407, 261, 378]);
    expect(out.tokens).toEqual(GREEDY);
    expect(out.text).toBe(', there was a little girl named Lily. She loved to play');
  });

  it('generate --prompt-ids with stacked adapters equals the PEFT reference ids; stop strings cut the text', async () => {
    const exp = (await import(join(PEFT, 'expected.json'), { with: { type: 'json' } })).default as { cases: Record<string, { greedy_ids: number[] }> };
    const out = await runGenerate({
      model: STORIES,
      promptIds: '1,403,407,261,378',
      adapter: [join(PEFT, 'lora-a'), join(PEFT, 'lora-b') + ':1'],
      maxTokens: 40,
    });
    expect(out.tokens).toEqual(exp.cases['lora-a+lora-b'].greedy_ids);
    const cut = await runGenerate({ model: STORIES, prompt: 'Once upon a time', maxTokens: 30, stop: ['Lily'] });
    expect(cut.text).toBe(', there was a little girl named ');
    expect(cut.tokens.length).toBeLessThan(30);
  });

  it('generate --quant nf4 --compute int8 decodes in int8 (the first greedy ids as fp32); int8 without nf4 is a usage error', async () => {
    const out = await runGenerate({ model: STORIES, prompt: 'Once upon a time', maxTokens: 12, quant: 'nf4', compute: 'int8', json: true });
    expect(out.tokens).toEqual(GREEDY.slice(0, 12));
    await expect(runGenerate({ model: STORIES, promptIds: '1', compute: 'int8' })).rejects.toThrow(/--quant nf4/);
    await expect(runGenerate({ model: STORIES, promptIds: '1', quant: 'nf4', compute: 'int4' })).rejects.toMatchObject({ code: 'E_USAGE' });
  });

  it('sampling is seeded: same seed, same ids; temperature changes them', async () => {
    const a = await runGenerate({ model: STORIES, promptIds: '1,403', maxTokens: 20, temperature: 1, topK: 40, topP: 0.9, seed: 7 });
    const b = await runGenerate({ model: STORIES, promptIds: '1,403', maxTokens: 20, temperature: 1, topK: 40, topP: 0.9, seed: 7 });
    const c = await runGenerate({ model: STORIES, promptIds: '1,403', maxTokens: 20, temperature: 1, topK: 40, topP: 0.9, seed: 8 });
    expect(a.tokens).toEqual(b.tokens);
    expect(a.tokens).not.toEqual(c.tokens);
  });

  it('score --text gives the SOURCE.txt NLL; --ids in windows scores every token once', async () => {
    const s = await runScore({ model: STORIES, text: 'Once upon a time, there was a little girl named Lily. She loved to play outside.' });
    expect(s.logprobs.length).toBe(26);
    expect(Math.abs(s.mean_nll - 0.28)).toBeLessThan(0.005);
    expect(s.perplexity).toBeCloseTo(Math.exp(s.mean_nll), 12);
    const ids = [1, 403, 407, 261, 378, ...GREEDY, ...GREEDY];
    const full = await runScore({ model: STORIES, ids: ids.join(',') });
    const win = await runScore({ model: STORIES, ids: ids.join(','), window: 16, stride: 8 });
    expect(win.logprobs.length).toBe(ids.length - 1);
    // the first window is a plain prefix of the full sequence
    for (let i = 0; i < 15; i++) expect(Math.abs(win.logprobs[i] - full.logprobs[i])).toBeLessThan(1e-5);
    expect(win.mean_nll).not.toBe(full.mean_nll); // later tokens saw less context
  });

  it('usage errors are E_USAGE', async () => {
    await expect(runGenerate({ model: STORIES })).rejects.toMatchObject({ code: 'E_USAGE' });
    await expect(runGenerate({ model: STORIES, prompt: 'x', promptIds: '1' })).rejects.toMatchObject({ code: 'E_USAGE' });
    await expect(runGenerate({ model: STORIES, promptIds: '1,x' })).rejects.toMatchObject({ code: 'E_USAGE' });
    await expect(runGenerate({ model: STORIES, promptIds: '1,9999' })).rejects.toMatchObject({ code: 'E_USAGE' });
    await expect(runGenerate({ model: STORIES, promptIds: '1', quant: 'int8' })).rejects.toMatchObject({ code: 'E_USAGE' });
    await expect(runScore({ model: STORIES, text: 'a', ids: '1,2' })).rejects.toMatchObject({ code: 'E_USAGE' });
    await expect(runScore({ model: STORIES, ids: '1,2,3', window: 4, stride: 4 })).rejects.toMatchObject({ code: 'E_USAGE' });
    await expect(runScore({ model: STORIES, file: '/nonexistent/file.txt' })).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    await expect(runGenerate({ model: STORIES, promptIds: '1', adapter: [join(PEFT, 'nope')] })).rejects.toMatchObject({ code: 'E_ADAPTER' });
  });
});
