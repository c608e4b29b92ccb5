// Version diffs: config, params, inputs, upstream, metrics with deltas, outputs, and a kind's own lines.
import { describe, expect, it } from 'vitest';
import { diffVersions, formatDiff } from '../../../src/store/diff.ts';
import type { StageKind, StageManifest, UpstreamArtifact } from '../../../src/stage.ts';

function art(version: number, m: Partial<StageManifest>): UpstreamArtifact {
  const manifest: StageManifest = {
    name: 'adapters.qa',
    kind: 'adapter',
    implVersion: '1',
    key: `k${version}`,
    config: {},
    inputs: [],
    upstream: {},
    resolved: {},
    engineVersion: '0.1.0',
    metrics: {},
    createdAt: '',
    seconds: 1,
    ...m,
  };
  return { name: 'adapters.qa', kind: 'adapter', key: `k${version}`, version, dir: `/store/k${version}`, manifest };
}

describe('diff', () => {
  it('lists every kind of change and the kind-specific lines', async () => {
    const a = art(1, {
      config: { lora: { r: 8 }, lr: 0.001 },
      params: { 'params.json:n': 1 },
      inputs: [{ path: 'a.txt', sha256: '1', size: 1 }],
      upstream: { 'datasets.qa': 'aaaaaaaaaaaaaaaa' },
      metrics: { valid_loss: 2.5, train: { loss: 3 } },
      outputs: [{ path: 'o.txt', sha256: 'x', size: 1 }],
    });
    const b = art(2, {
      config: { lora: { r: 16 }, lr: 0.001 },
      params: { 'params.json:n': 2 },
      inputs: [
        { path: 'a.txt', sha256: '2', size: 1 },
        { path: 'b.txt', sha256: '3', size: 1 },
      ],
      upstream: { 'datasets.qa': 'bbbbbbbbbbbbbbbb' },
      metrics: { valid_loss: 2.25, train: { loss: 3 } },
      outputs: [],
    });
    const kind = { diff: async (x: UpstreamArtifact, y: UpstreamArtifact) => [{ section: 'weights', text: `${x.key} vs ${y.key}` }] } as unknown as StageKind;
    const d = await diffVersions(kind, a, b);
    expect(d.config).toEqual([{ key: 'lora.r', old: 8, new: 16 }]);
    expect(d.params).toEqual([{ key: 'params.json:n', old: 1, new: 2 }]);
    expect(d.inputs).toEqual([
      { path: 'a.txt', change: 'modified' },
      { path: 'b.txt', change: 'added' },
    ]);
    expect(d.metrics).toEqual([{ key: 'valid_loss', old: 2.5, new: 2.25, delta: -0.25 }]);
    expect(d.outputs).toEqual([{ path: 'o.txt', change: 'removed' }]);
    expect(formatDiff(d)).toEqual([
      'adapters.qa: v1 (k1) -> v2 (k2)',
      'config:',
      '  lora.r: 8 -> 16',
      'params:',
      '  params.json:n: 1 -> 2',
      'inputs:',
      '  M a.txt',
      '  + b.txt',
      'upstream:',
      '  datasets.qa: aaaaaaaaaaaa -> bbbbbbbbbbbb',
      'metrics:',
      '  valid_loss: 2.5 -> 2.25 (-0.25)',
      'outputs:',
      '  - o.txt',
      'weights:',
      '  k1 vs k2',
    ]);
  });
});
