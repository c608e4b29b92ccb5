// Every schema rule of pipeline.json gives its exact message: file, line, JSON pointer, problem, all at once.
import { describe, expect, it } from 'vitest';
import { loadPipelineText } from '../../../src/config/load.ts';
import { TOOLCHAIN } from '../../helpers/toolchain.ts';
import { PeftError } from '../../../src/errors.ts';

function problems(text: string): { code: string; lines: string[] } {
  try {
    loadPipelineText(text, 'pipeline.json', { cwd: '/proj', kinds: TOOLCHAIN.kinds });
  } catch (e) {
    if (e instanceof PeftError) return { code: String(e.code), lines: e.message.split('\n') };
    throw e;
  }
  throw new Error('expected the pipeline to be rejected');
}

const j = (v: unknown): string => JSON.stringify(v, null, 2);

describe('pipeline.json schema errors', () => {
  it('reports a string where an integer is expected, with the line and the bound', () => {
    const text = j({ models: { base: { path: 'm' } }, datasets: {}, adapters: { qa: { base: 'base', data: 'qa', lora: { r: '16' } } } });
    expect(problems(text)).toEqual({ code: 'E_CONFIG_SCHEMA', lines: ['pipeline.json:13 /adapters/qa/lora/r: must be integer >= 1 (got "16")'] });
  });

  it('lists every problem at once, sorted by line', () => {
    const text = [
      '{',
      '  "adapters": {',
      '    "qa": { "base": "base", "data": "qa", "quant": "nf8", "lr": 0 },',
      '    "dom": { "base": "base", "lrate": 1 }',
      '  },',
      '  "stages": { "x": { "cmd": 5 } }',
      '}',
    ].join('\n');
    expect(problems(text).lines).toEqual([
      'pipeline.json:3 /adapters/qa/quant: must be one of "nf4", "none" (got "nf8") (did you mean "nf4"?)',
      'pipeline.json:3 /adapters/qa/lr: must be > 0 (got 0)',
      'pipeline.json:4 /adapters/dom: must set exactly one of "data", "import"',
      'pipeline.json:4 /adapters/dom/lrate: unknown field "lrate" (did you mean "lr"?)',
      'pipeline.json:6 /stages/x/cmd: must be a string or an array of strings (got 5)',
    ]);
  });

  it('suggests the section name for an unknown top-level field', () => {
    expect(problems('{\n  "adaptors": {}\n}').lines).toEqual(['pipeline.json:2 /adaptors: unknown field "adaptors" (did you mean "adapters"?)']);
  });

  it('requires exactly one model source', () => {
    const text = j({ models: { a: { path: 'x', hub: 'y/z' }, b: { revision: 'main' } } });
    expect(problems(text).lines).toEqual([
      'pipeline.json:3 /models/a: must set exactly one of "path", "hub", "init" (got "path" and "hub")',
      'pipeline.json:7 /models/b: must set exactly one of "path", "hub", "init"',
    ]);
  });

  it('explains anyOf fields by their alternatives', () => {
    const text = j({ models: { m: { path: 'p' } }, adapters: { a: { base: 'm', data: 'd', lora: { targets: 'all-lin' } } } });
    expect(problems(text).lines).toEqual([
      'pipeline.json:12 /adapters/a/lora/targets: must be "all-linear" or an array of "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "c_attn", "c_proj", "c_fc", "w1", "w2", "w3", "q", "k", "v", "o", "wi_0", "wi_1", "wo" (got "all-lin")',
    ]);
  });

  it('points into arrays for a bad item', () => {
    const text = j({ models: { m: { path: 'p' } }, adapters: { a: { base: 'm', data: 'd', lora: { targets: ['q_proj', 'qproj'] } } } });
    expect(problems(text).lines).toEqual([
      'pipeline.json:14 /adapters/a/lora/targets/1: must be one of "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "c_attn", "c_proj", "c_fc", "w1", "w2", "w3", "q", "k", "v", "o", "wi_0", "wi_1", "wo" (got "qproj") (did you mean "q_proj"?)',
    ]);
  });

  it('rejects stage names that cannot be part of <section>.<name>', () => {
    expect(problems('{"stages": {\n "a.b": {"cmd": "true"}}}').lines).toEqual([
      'pipeline.json:2 /stages/a.b: invalid name "a.b": use letters, digits, "_" and "-" (it becomes part of the stage name)',
    ]);
  });

  it('rejects empty strings, empty arrays and repeated items', () => {
    const text = j({ stages: { x: { cmd: '', deps: ['a', 'a'] } }, compositions: { c: { base: 'm', adapters: [] } } });
    expect(problems(text).lines).toEqual([
      'pipeline.json:4 /stages/x/cmd: must be a string or an array of strings (got "")',
      'pipeline.json:5 /stages/x/deps: must not repeat items (items 0 and 1 are equal)',
      'pipeline.json:14 /compositions/c/adapters: must have at least 1 item(s)',
    ]);
  });

  it('reports invalid JSON with line and column', () => {
    try {
      loadPipelineText('{\n  "stages": {,\n}', 'pipeline.json', { cwd: '/proj', kinds: TOOLCHAIN.kinds });
      expect.unreachable();
    } catch (e) {
      expect((e as PeftError).code).toBe('E_CONFIG_PARSE');
      expect((e as PeftError).message).toBe('pipeline.json:2:14: invalid JSON: expected a member name in double quotes, found ","');
    }
  });

  it('fills defaults into the frozen resolved config', () => {
    const p = loadPipelineText(j({ models: { m: { path: 'p' } }, datasets: {}, stages: { s: { cmd: 'true' } } }), 'pipeline.json', {
      cwd: '/proj',
      kinds: TOOLCHAIN.kinds,
    });
    expect(p.config.models).toEqual({ m: { path: 'p', revision: 'main', description: '' } });
    expect(p.stages.get('stages.s')!.config).toEqual({ cmd: 'true', description: '', deps: [], outs: [], params: [], env: {}, heavy: false });
    expect(Object.isFrozen(p.stages.get('stages.s')!.config)).toBe(true);
    expect(() => {
      (p.config.models as Record<string, unknown>).x = 1;
    }).toThrow();
  });

  it('fills adapter defaults as the adapter issue specifies', () => {
    const text = j({
      models: { m: { path: 'p' } },
      datasets: { d: { source: { files: ['a.txt'] }, format: 'text', model: 'm' } },
      adapters: { a: { base: 'm', data: 'd' } },
    });
    const a = loadPipelineText(text, 'pipeline.json', { cwd: '/proj', kinds: TOOLCHAIN.kinds }).stages.get('adapters.a')!;
    expect(a.config).toMatchObject({
      lora: { r: 16, alpha: 32, dropout: 0.05, targets: 'all-linear', rslora: false },
      quant: 'nf4',
      compute: 'auto',
      lr: 2e-4,
      schedule: 'cosine',
      on: [],
    });
    expect(a.heavy).toBe(true);
    expect(a.upstream).toEqual(['datasets.d', 'models.m']);
  });
});
