// The two native addons: the production engine (what src/engine loads) holds no test-only kernel / op bindings, the
// test addon holds them; both report the same kernel introspection.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { addon, testAddon } from './addon.ts';
import { ADDON } from './fixtures.ts';

describe('production and test addons', () => {
  it('the production addon exports only kernel introspection, no raw kernels or ops', () => {
    expect(Object.keys(addon.kernels).sort()).toEqual(['backendInfo', 'gemmBf16Impl']);
    expect(addon.ops).toBeUndefined();
    expect(typeof addon.loadModel).toBe('function');
    // the test bindings' code is not linked in: their export names are absent from the binary
    const bin = readFileSync(ADDON).toString('latin1');
    for (const name of ['frozenLinearBackwardGroup', 'nf4Quantize', 'crossEntropy', 'ops.attention']) expect(bin).not.toContain(name);
  });

  it('the test addon exports the raw kernels and ops, and no engine entry points', () => {
    for (const f of ['sgemm', 'gemmBf16', 'nf4Quantize', 'frozenLinearBackwardGroup', 'backendInfo', 'setThreads'])
      expect(typeof testAddon.kernels[f]).toBe('function');
    for (const f of ['crossEntropy', 'rmsnorm', 'attention']) expect(typeof testAddon.ops[f]).toBe('function');
    expect(testAddon.loadModel).toBeUndefined();
    expect(testAddon.kernels.backendInfo().backend).toBe(addon.kernels.backendInfo().backend);
  });
});
