// The stage graph: topological order, upstream / downstream closures, cycles in data-flow order.
import { describe, expect, it } from 'vitest';
import { downstreamOf, findCycle, topoOrder, upstreamClosure } from '../../../src/graph/graph.ts';

describe('graph', () => {
  const edges = new Map<string, string[]>([
    ['c', ['b']],
    ['b', ['a']],
    ['a', []],
    ['d', ['a']],
  ]);
  it('orders upstream first and computes closures', () => {
    expect(topoOrder(['c', 'b', 'a', 'd'], edges)).toEqual(['a', 'b', 'c', 'd']);
    expect([...upstreamClosure(['c'], edges)].sort()).toEqual(['a', 'b', 'c']);
    expect([...downstreamOf('a', edges)].sort()).toEqual(['b', 'c', 'd']);
    expect(findCycle(['a', 'b', 'c', 'd'], edges)).toBeUndefined();
  });
  it('finds a cycle and prints it in data-flow order', () => {
    const cyc = new Map<string, string[]>([
      ['x', ['z']],
      ['y', ['x']],
      ['z', ['y']],
    ]);
    expect(findCycle(['x', 'y', 'z'], cyc)).toEqual(['x', 'y', 'z', 'x']);
  });
});
