// Staleness reasons: what changed between a committed manifest and the new key material, and how each prints.
import { describe, expect, it } from 'vitest';
import { diffReasons, type KeyMaterial } from '../../../src/plan/reasons.ts';
import { formatReason } from '../../../src/store/reasons.ts';
import type { StageManifest } from '../../../src/stage.ts';

describe('reasons', () => {
  it('reports config, params, inputs, upstream and version changes', () => {
    const old = {
      implVersion: '1',
      engineVersion: '0.1.0',
      config: { cmd: 'a', lora: { r: 8 } },
      params: { 'params.json:lr': 1 },
      resolved: {},
      inputs: [
        { path: 'a.txt', sha256: 'x', size: 1 },
        { path: 'b.txt', sha256: 'y', size: 1 },
      ],
      upstream: { 'stages.u': 'k1' },
    } as unknown as StageManifest;
    const now: KeyMaterial = {
      kind: 'command',
      implVersion: '2',
      engineVersion: '0.1.0',
      config: { cmd: 'a', lora: { r: 16 } },
      params: { 'params.json:lr': 2 },
      resolved: {},
      inputs: [
        { path: 'a.txt', sha256: 'x2' },
        { path: 'c.txt', sha256: 'z' },
      ],
      upstream: { 'stages.u': 'k2' },
    };
    const r = diffReasons(old, now);
    expect(r).toEqual([
      { type: 'impl-changed', old: '1', new: '2' },
      { type: 'param-changed', key: 'lora.r', old: 8, new: 16 },
      { type: 'param-changed', key: 'params.json:lr', old: 1, new: 2 },
      { type: 'dep-modified', path: 'a.txt' },
      { type: 'dep-added', path: 'c.txt' },
      { type: 'dep-removed', path: 'b.txt' },
      { type: 'upstream-changed', stage: 'stages.u' },
    ]);
    expect(r.map(formatReason)).toContain('param-changed lora.r: 8 -> 16');
  });
});
