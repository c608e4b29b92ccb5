// Unit tests of the error type and its mapping to exit codes.
import { describe, expect, it } from 'vitest';
import { PeftError, exitCodeFor } from '../../src/errors.ts';

describe('PeftError', () => {
  it('carries a code and details', () => {
    const e = new PeftError('E_CONFIG_SCHEMA', 'pipeline.json:3 /models: bad', { file: 'pipeline.json', line: 3 });
    expect(e.code).toBe('E_CONFIG_SCHEMA');
    expect(e.details.line).toBe(3);
    expect(e).toBeInstanceOf(Error);
  });
  it('maps codes to exit statuses', () => {
    expect(exitCodeFor(new PeftError('E_USAGE', 'x'))).toBe(64);
    expect(exitCodeFor(new PeftError('E_CONFIG_SEMANTIC', 'x'))).toBe(65);
    expect(exitCodeFor(new PeftError('E_STAGE_FAILED', 'x'))).toBe(1);
    expect(exitCodeFor(new Error('boom'))).toBe(70);
  });
});
