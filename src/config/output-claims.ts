// The outputs stages claim, indexed by path: which claims lie at or above a path and which below it, without
// comparing every stage with every other (a pipeline of 500 stages made 250,000 comparisons per check).
import type { StageEntry } from './types.ts';

export interface Claim {
  stage: StageEntry;
  out: string;
  raw: string;
  /** Order of claiming: where several claims overlap a path, the first claimed is named. */
  seq: number;
}

/** Claimed outputs (normalized relative POSIX paths, never '.'), with the overlap rule of util/paths.ts isWithin. */
export class OutputClaims {
  readonly all: Claim[] = [];
  private readonly byPath = new Map<string, Claim[]>();
  private sorted: Claim[] | undefined;

  add(stage: StageEntry, out: string, raw: string): void {
    const c = { stage, out, raw, seq: this.all.length };
    this.all.push(c);
    const list = this.byPath.get(out);
    list ? list.push(c) : this.byPath.set(out, [c]);
    this.sorted = undefined;
  }

  /** Claims `c` with isWithin(p, c.out): c.out equals p or is a folder above it. */
  atOrAbove(p: string): Claim[] {
    const out: Claim[] = [];
    for (let i = p.indexOf('/'); i >= 0; i = p.indexOf('/', i + 1)) out.push(...(this.byPath.get(p.slice(0, i)) ?? []));
    out.push(...(this.byPath.get(p) ?? []));
    return out;
  }

  /** Claims `c` with isWithin(c.out, p): c.out equals p or lies inside it ('.' holds every claim). */
  atOrBelow(p: string): Claim[] {
    if (p === '.') return [...this.all];
    const sorted = (this.sorted ??= [...this.all].sort((a, b) => (a.out < b.out ? -1 : a.out > b.out ? 1 : a.seq - b.seq)));
    const out = [...(this.byPath.get(p) ?? [])];
    const lo = `${p}/`;
    // The paths starting with `p/` are the sorted range [p/, p0): '0' follows '/' in code-unit order.
    let a = 0;
    let b = sorted.length;
    while (a < b) {
      const m = (a + b) >> 1;
      sorted[m].out < lo ? (a = m + 1) : (b = m);
    }
    for (let i = a; i < sorted.length && sorted[i].out.startsWith(lo); i++) out.push(sorted[i]);
    return out;
  }

  /** The first claim (in claiming order) of another stage overlapping `p` either way. */
  firstOverlap(p: string, except: StageEntry): Claim | undefined {
    let best: Claim | undefined;
    for (const c of [...this.atOrAbove(p), ...this.atOrBelow(p)]) if (c.stage !== except && (!best || c.seq < best.seq)) best = c;
    return best;
  }
}
