// Every semantic rule of pipeline.json (after the schema) gives its exact message, with the line and pointer.
import { describe, expect, it } from 'vitest';
import { loadPipelineText } from '../../../src/config/load.ts';
import { TOOLCHAIN } from '../../helpers/toolchain.ts';
import type { PeftError } from '../../../src/errors.ts';

function lines(text: string): string[] {
  try {
    loadPipelineText(text, 'pipeline.json', { cwd: '/proj', kinds: TOOLCHAIN.kinds });
  } catch (e) {
    expect((e as PeftError).code).toBe('E_CONFIG_SEMANTIC');
    return (e as PeftError).message.split('\n');
  }
  throw new Error('expected the pipeline to be rejected');
}

describe('pipeline.json semantic rules', () => {
  it('unresolved references name the section and suggest the closest name', () => {
    const text = [
      '{',
      '  "models": { "base": { "path": "m" } },',
      '  "datasets": { "notes": { "source": { "files": ["a.md"] }, "format": "text", "model": "base" } },',
      '  "adapters": {',
      '    "domain": { "base": "bse", "data": "note" },',
      '    "task": { "base": "base", "data": "qa", "on": ["domian"] }',
      '  },',
      '  "compositions": { "c": { "base": "base", "adapters": [{ "name": "tsk" }] } },',
      '  "evals": { "e": { "compositions": ["cc"], "datasets": ["notes"] } }',
      '}',
    ].join('\n');
    expect(lines(text)).toEqual([
      'pipeline.json:5 /adapters/domain/base: model "bse" is not defined in "models" (did you mean "base"?)',
      'pipeline.json:5 /adapters/domain/data: dataset "note" is not defined in "datasets" (did you mean "notes"?)',
      'pipeline.json:6 /adapters/task/data: dataset "qa" is not defined in "datasets"',
      'pipeline.json:6 /adapters/task/on/0: adapter "domian" is not defined in "adapters" (did you mean "domain"?)',
      'pipeline.json:8 /compositions/c/adapters/0/name: adapter "tsk" is not defined in "adapters" (did you mean "task"?)',
      'pipeline.json:9 /evals/e/compositions/0: composition "cc" is not defined in "compositions" (did you mean "c"?)',
    ]);
  });

  it('prints a dependency cycle', () => {
    const text = [
      '{',
      '  "models": { "m": { "path": "m" } },',
      '  "datasets": { "d": { "source": { "files": ["a.md"] }, "format": "text", "model": "m" } },',
      '  "adapters": {',
      '    "a": { "base": "m", "data": "d", "on": ["b"] },',
      '    "b": { "base": "m", "data": "d", "on": ["a"] }',
      '  }',
      '}',
    ].join('\n');
    expect(lines(text)).toEqual(['pipeline.json:5 /adapters/a: dependency cycle: adapters.a -> adapters.b -> adapters.a']);
  });

  it('finds cycles through files one stage writes and another reads', () => {
    const text = '{"stages": {\n"c": {"cmd": "x", "outs": ["c.txt"], "deps": ["d.txt"]},\n"d": {"cmd": "x", "outs": ["d.txt"], "deps": ["c.txt"]}}}';
    expect(lines(text)).toEqual(['pipeline.json:2 /stages/c: dependency cycle: stages.c -> stages.d -> stages.c']);
  });

  it('reports duplicate names', () => {
    const text = '{"stages": {\n"a": {"cmd": "x"},\n"a": {"cmd": "y"}}}';
    expect(lines(text)).toEqual(['pipeline.json:3 /stages/a: duplicate name "a" (each name may appear once)']);
  });

  it('reports outputs claimed by two stages, equal or nested', () => {
    const text =
      '{"stages": {\n"a": {"cmd": "x", "outs": ["data/raw"]},\n"b": {"cmd": "x", "outs": ["data/raw/"]},\n"c": {"cmd": "x", "outs": ["data/raw/sub"]},\n"e": {"cmd": "x", "outs": ["data"]}}}';
    expect(lines(text)).toEqual([
      'pipeline.json:3 /stages/b/outs/0: output "data/raw" is also an output of stages.a',
      'pipeline.json:4 /stages/c/outs/0: output "data/raw/sub" lies inside output "data/raw" of stages.a',
      'pipeline.json:5 /stages/e/outs/0: output "data" contains output "data/raw" of stages.a',
    ]);
  });

  it('reports paths escaping the project directory', () => {
    const text =
      '{"stages": {\n"a": {"cmd": "x", "deps": ["../secret", "/etc/passwd", "ok/../../x"]},\n"b": {"cmd": "x", "outs": ["../out"]}},\n"exports": {"e": {"adapter": "q", "path": "/tmp/e"}}}';
    const got = lines(text);
    expect(got).toContain('pipeline.json:2 /stages/a/deps/0: path "../secret" escapes the project directory (use a path inside it)');
    expect(got).toContain('pipeline.json:2 /stages/a/deps/1: path "/etc/passwd" escapes the project directory (use a path inside it)');
    expect(got).toContain('pipeline.json:2 /stages/a/deps/2: path "ok/../../x" escapes the project directory (use a path inside it)');
    expect(got).toContain('pipeline.json:3 /stages/b/outs/0: output "../out" escapes the project directory (use a path inside it)');
    expect(got).toContain('pipeline.json:4 /exports/e/path: output "/tmp/e" escapes the project directory (use a path inside it)');
  });

  it('refuses a stage reading its own output', () => {
    const text = '{"stages": {\n"a": {"cmd": "x", "deps": ["out/x.txt"], "outs": ["out"]}}}';
    expect(lines(text)).toEqual(['pipeline.json:2 /stages/a/deps/0: input "out/x.txt" overlaps this stage\'s own output "out"']);
  });

  it("makes a stage reading another stage's output depend on it", () => {
    const text = '{"stages": {"a": {"cmd": "x", "outs": ["gen"]}, "b": {"cmd": "y", "deps": ["gen/f.txt", "src"]}, "c": {"cmd": "z", "deps": ["."]}}}';
    const p = loadPipelineText(text, 'pipeline.json', { cwd: '/proj', kinds: TOOLCHAIN.kinds });
    expect(p.stages.get('stages.b')!.upstream).toEqual(['stages.a']);
    expect(p.stages.get('stages.b')!.files).toEqual(['src']);
    expect(p.stages.get('stages.c')!.upstream).toEqual(['stages.a']);
    expect(p.stages.get('stages.c')!.excludes).toEqual(['gen']);
    expect(p.order.indexOf('stages.a')).toBeLessThan(p.order.indexOf('stages.b'));
  });
});
