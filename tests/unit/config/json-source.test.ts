// pipeline.json's strict parser: JSON pointers mapped to lines, duplicate keys found, __proto__ kept as a plain key.
import { describe, expect, it } from 'vitest';
import { lineOf, parseJsonWithLocations } from '../../../src/config/json-source.ts';

describe('json-source', () => {
  it('maps pointers to lines, keys to their own line, and finds duplicates', () => {
    const text = '{\n  "a": {\n    "b": [\n      1,\n      {"c": "x/y"}\n    ]\n  },\n  "a~b/c": 2,\n  "a": 3\n}';
    const { value, locations, duplicates } = parseJsonWithLocations(text);
    expect(value).toEqual({ a: 3, 'a~b/c': 2 });
    expect(lineOf(locations, '/a/b/1/c')).toBe(5);
    expect(lineOf(locations, '/a/b/0')).toBe(4);
    expect(lineOf(locations, '/a~0b~1c')).toBe(8);
    expect(lineOf(locations, '/a/b/9/zzz')).toBe(3); // nearest ancestor
    expect(duplicates).toEqual([{ pointer: '/a', line: 9 }]);
  });

  it('is strict JSON and keeps __proto__ as a plain key', () => {
    for (const bad of ['{"a": 1,}', "{'a': 1}", '{"a": 01}', '[1 2]', '{"a": 1} x', '{"a": "\\q"}', '// c\n{}'])
      expect(() => parseJsonWithLocations(bad)).toThrow();
    const v = parseJsonWithLocations('{"__proto__": {"x": 1}, "n": -1.5e3, "s": "\\u00e9\\n"}').value as Record<string, unknown>;
    expect(Object.keys(v)).toEqual(['__proto__', 'n', 's']);
    expect(v.n).toBe(-1500);
    expect(v.s).toBe('é\n');
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});
