// --composition for generate / score: argument rules and the store lookup's errors.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { applyComposition } from '../../../src/cli/commands/composition-target.ts';

describe('--composition arguments', () => {
  const dir = mkdtempSync(join(tmpdir(), 'peftmake-ct-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('needs --model or --composition, and not both', () => {
    expect(() => applyComposition({})).toThrow(/give --model DIR \(with --adapter DIR\[:SCALE\]\.\.\.\) or --composition NAME/);
    expect(() => applyComposition({ disable: ['task'], model: 'm' })).toThrow(/--disable needs --composition NAME/);
    expect(() => applyComposition({ composition: 'a', model: 'm' })).toThrow(/drop --model \/ --adapter/);
    expect(applyComposition({ model: 'm', adapter: ['x:2'] })).toEqual({ model: 'm', adapter: ['x:2'] });
  });

  it('names the build to run when the composition has no version', () => {
    expect(() => applyComposition({ composition: 'assistant' }, dir)).toThrow(/composition "assistant" has not been built in .*artifacts/);
  });
});
