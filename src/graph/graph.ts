// The stage DAG: topological order, cycle finding, and up/downstream closures over stage names.

export type Edges = ReadonlyMap<string, readonly string[]>; // stage -> its upstream stages

/** Finds one cycle (as a path that starts and ends at the same stage), or undefined. */
export function findCycle(nodes: readonly string[], upstream: Edges): string[] | undefined {
  const state = new Map<string, 1 | 2>(); // 1 on the stack, 2 done
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    state.set(n, 1);
    stack.push(n);
    for (const u of upstream.get(n) ?? []) {
      if (state.get(u) === 1) return [...stack.slice(stack.indexOf(u)), u];
      if (!state.has(u) && upstream.has(u)) {
        const c = visit(u);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(n, 2);
    return undefined;
  };
  for (const n of nodes) {
    if (state.has(n)) continue;
    const c = visit(n);
    if (c) return c.reverse(); // print in data-flow order: producer -> consumer
  }
  return undefined;
}

/** Topological order (upstream first), stable with respect to `nodes` order. Assumes no cycle. */
export function topoOrder(nodes: readonly string[], upstream: Edges): string[] {
  const out: string[] = [];
  const done = new Set<string>();
  const visit = (n: string): void => {
    if (done.has(n)) return;
    done.add(n);
    for (const u of upstream.get(n) ?? []) if (upstream.has(u)) visit(u);
    out.push(n);
  };
  nodes.forEach(visit);
  return out;
}

/** The given stages and everything upstream of them. */
export function upstreamClosure(targets: readonly string[], upstream: Edges): Set<string> {
  const seen = new Set<string>();
  const walk = (n: string): void => {
    if (seen.has(n)) return;
    seen.add(n);
    (upstream.get(n) ?? []).forEach(walk);
  };
  targets.forEach(walk);
  return seen;
}

/** Every stage downstream of `stage` (not including it). */
export function downstreamOf(stage: string, upstream: Edges): Set<string> {
  const down = new Map<string, string[]>();
  for (const [n, ups] of upstream) for (const u of ups) down.set(u, [...(down.get(u) ?? []), n]);
  const seen = new Set<string>();
  const walk = (n: string): void => {
    for (const d of down.get(n) ?? [])
      if (!seen.has(d)) {
        seen.add(d);
        walk(d);
      }
  };
  walk(stage);
  return seen;
}
