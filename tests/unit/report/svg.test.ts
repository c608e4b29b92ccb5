// The report's SVG pieces: every finite point is a circle with its data, text is escaped, ticks are nice, graph
// columns follow the longest upstream path.
import { describe, expect, it } from 'vitest';
import { lineChart } from '../../../src/report/svg/line-chart.ts';
import { niceTicks } from '../../../src/report/svg/scale.ts';
import { depths, pipelineGraph } from '../../../src/report/svg/pipeline-graph.ts';
import type { GraphNode } from '../../../src/report/model.ts';

describe('lineChart', () => {
  it('draws one circle per finite point with data-x / data-y, and escapes labels', () => {
    const svg = lineChart({
      id: 'a/b',
      title: 'loss <&>',
      xLabel: 'step',
      yLabel: 'loss',
      series: [
        {
          label: 'train "v1"',
          color: '#000',
          data: { version: 1 },
          points: [
            { x: 1, y: 2.5 },
            { x: 2, y: Number.NaN },
            { x: 3, y: 0.125 },
          ],
        },
      ],
      markers: [{ x: 3, y: 0.125, label: 'gate <passed>', kind: 'pass' }],
    });
    const pts = [...svg.matchAll(/<circle class="pt"[^>]*data-x="([^"]+)" data-y="([^"]+)"/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(pts).toEqual([
      [1, 2.5],
      [3, 0.125],
    ]);
    expect(svg).toContain('data-chart="a/b"');
    expect(svg).toContain('loss &lt;&amp;&gt;');
    expect(svg).toContain('data-series="train &quot;v1&quot;" data-version="1"');
    expect(svg).toContain('data-marker="pass"');
    expect(svg).not.toMatch(/<script|href="http/);
  });

  it('an empty chart says there is no data', () => {
    expect(lineChart({ id: 'x', title: 't', xLabel: 'x', yLabel: 'y', series: [{ label: 's', color: '#000', points: [] }] })).toContain('no data');
  });
});

describe('niceTicks', () => {
  it('covers the range with 1-2-5 steps', () => {
    expect(niceTicks(0.3, 9.2, 5)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(niceTicks(2.93, 6.27, 5)).toEqual([2, 3, 4, 5, 6, 7]);
    expect(niceTicks(0.0001, 0.0019, 4)).toEqual([0, 0.0005, 0.001, 0.0015, 0.002]);
    const flat = niceTicks(5, 5); // a flat series still gets an axis around its value
    expect(flat[0]).toBeLessThan(5);
    expect(flat[flat.length - 1]).toBeGreaterThan(5);
    expect(flat).toContain(5);
  });
});

describe('pipeline graph', () => {
  const node = (name: string, upstream: string[]): GraphNode => ({
    name,
    kind: name.split('.')[0],
    upstream,
    state: 'fresh',
    version: 1,
    pinned: false,
    heldBack: false,
    reasons: [],
  });
  const nodes = [
    node('models.base', []),
    node('datasets.d', ['models.base']),
    node('adapters.a', ['models.base', 'datasets.d']),
    node('evals.e', ['adapters.a', 'datasets.d']),
  ];

  it('puts each stage one column right of its deepest upstream', () => {
    expect(Object.fromEntries(depths(nodes))).toEqual({ 'models.base': 0, 'datasets.d': 1, 'adapters.a': 2, 'evals.e': 3 });
  });

  it('has one linked node per stage and one arrow per dependency', () => {
    const svg = pipelineGraph(nodes);
    expect([...svg.matchAll(/<g class="node[^"]*" data-stage="([^"]+)"/g)].map((m) => m[1])).toEqual(nodes.map((n) => n.name));
    expect(svg.match(/<path class="edge"/g)).toHaveLength(5);
    expect(svg).toContain('<a href="#stage-adapters.a">');
  });
});
