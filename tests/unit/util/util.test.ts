// src/util: project-relative paths and globs, and "did you mean" suggestions.
import { describe, expect, it } from 'vitest';
import { globToRegExp } from '../../../src/util/glob.ts';
import { closest, editDistance } from '../../../src/util/suggest.ts';
import { escapesProject, globBase, normalizeRel } from '../../../src/util/paths.ts';

describe('paths and globs', () => {
  it('matches * within a segment, ** across directories, braces and classes', () => {
    const re = (g: string): RegExp => globToRegExp(g);
    expect(re('data/*.md').test('data/a.md')).toBe(true);
    expect(re('data/*.md').test('data/sub/a.md')).toBe(false);
    expect(re('data/**/*.md').test('data/a.md')).toBe(true);
    expect(re('data/**/*.md').test('data/x/y/a.md')).toBe(true);
    expect(re('*.{md,txt}').test('a.txt')).toBe(true);
    expect(re('f[0-9].bin').test('f7.bin')).toBe(true);
    expect(re('f[!0-9].bin').test('f7.bin')).toBe(false);
    expect(re('a+b(1).txt').test('a+b(1).txt')).toBe(true);
    expect(globBase('data/notes/*.md')).toBe('data/notes');
    expect(globBase('**/*.md')).toBe('.');
    expect(normalizeRel('./a//b/')).toBe('a/b');
    expect(['..', '../x', '/abs', 'a/../../b'].map(escapesProject)).toEqual([true, true, true, true]);
    expect(['a', 'a/../b', '.', 'x/..'].map(escapesProject)).toEqual([false, false, false, false]);
  });
});

describe('suggestions', () => {
  it('counts transpositions as one edit and refuses far-off names', () => {
    expect(editDistance('alpah', 'alpha')).toBe(1);
    expect(closest('domian', ['domain', 'task'])).toBe('domain');
    expect(closest('zzz', ['domain', 'task'])).toBeUndefined();
    expect(closest('lrate', ['lr', 'lora'])).toBe('lr');
  });
});
