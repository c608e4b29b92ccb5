// The import graph of the source tree (src/ and stages/): every relative import read with TypeScript's own scanner,
// grouped into top-level parts (src/<dir> or src/<file>, stages/<kind> or stages/<file>); `npx tsx scripts/import-graph.ts`
// prints the arrows between parts (type-only imports count: they are dependencies too). The dependency-rule test (tests/unit/architecture) reads the same edges.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const SOURCE_ROOTS = ['src', 'stages'] as const;

/** One import from a source file: both paths repo-relative with '/' separators; `to` is a package name for bare imports. */
export interface ImportEdge {
  from: string;
  to: string;
  /** A bare specifier (node:fs, yargs, ...) rather than a file in the tree. */
  external: boolean;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (/\.(ts|mts|js|mjs)$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out.sort();
}

const posixRel = (root: string, p: string): string => relative(root, p).split(sep).join('/');

/** Every import (static, dynamic, re-export) of every file under src/ and stages/ of `root`. */
export function importEdges(root = REPO_ROOT): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const top of SOURCE_ROOTS) {
    for (const file of sourceFiles(join(root, top))) {
      const text = readFileSync(file, 'utf8');
      const info = ts.preProcessFile(text, true, true);
      for (const ref of info.importedFiles) {
        const spec = ref.fileName;
        const from = posixRel(root, file);
        const external = !spec.startsWith('.') && !spec.startsWith('/');
        const to = external ? spec : posixRel(root, resolve(dirname(file), spec));
        edges.push({ from, to, external });
      }
    }
  }
  return edges;
}

/** The part a repo-relative path belongs to: `src/plan`, `src/errors.ts`, `stages/adapter`, `stages/index.ts`. */
export function partOf(path: string): string {
  const parts = path.split('/');
  if (parts.length <= 2) return path;
  return `${parts[0]}/${parts[1]}`;
}

/** Arrows between parts (self-arrows left out), as sorted "a -> b" strings. */
export function partGraph(edges: readonly ImportEdge[]): string[] {
  const arrows = new Set<string>();
  for (const e of edges) {
    if (e.external) continue;
    const a = partOf(e.from);
    const b = partOf(e.to);
    if (a !== b) arrows.add(`${a} -> ${b}`);
  }
  return [...arrows].sort();
}

/** Pairs of parts that import each other (directly). */
export function mutualPairs(arrows: readonly string[]): string[] {
  const set = new Set(arrows);
  const out: string[] = [];
  for (const a of arrows) {
    const [x, y] = a.split(' -> ');
    if (x < y && set.has(`${y} -> ${x}`)) out.push(`${x} <-> ${y}`);
  }
  return out;
}

/** Groups of parts that reach each other through imports (strongly connected components larger than one part). */
export function cycles(arrows: readonly string[]): string[][] {
  const next = new Map<string, string[]>();
  for (const a of arrows) {
    const [x, y] = a.split(' -> ');
    next.set(x, [...(next.get(x) ?? []), y]);
    if (!next.has(y)) next.set(y, []);
  }
  // Tarjan's algorithm.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  let n = 0;
  const visit = (v: string): void => {
    index.set(v, n);
    low.set(v, n++);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v)!) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const group: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        group.push(w);
      } while (w !== v);
      if (group.length > 1) out.push(group.sort());
    }
  };
  for (const v of [...next.keys()].sort()) if (!index.has(v)) visit(v);
  return out;
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const root = process.argv[2] ? resolve(process.argv[2]) : REPO_ROOT;
  const arrows = partGraph(importEdges(root));
  process.stdout.write(`${arrows.join('\n')}\n`);
  const loops = mutualPairs(arrows);
  process.stdout.write(`# ${arrows.length} arrows between parts; ${loops.length} pairs import each other${loops.length ? `: ${loops.join(', ')}` : ''}\n`);
  for (const c of cycles(arrows)) process.stdout.write(`# cycle: ${c.join(', ')}\n`);
}
