// The dependency rules of docs/ARCHITECTURE.md, checked on the imports of the source tree (src/ and stages/, read by
// scripts/import-graph.ts): what each part may import, nothing imports the CLI, stage kinds never import each other,
// the engine sees only the addon, src/hf and src/util, config never sees stages/, and no two parts reach each other.
import { describe, expect, it } from 'vitest';
import { cycles, importEdges, partGraph, partOf, type ImportEdge } from '../../../scripts/import-graph.ts';

const edges: ImportEdge[] = importEdges();
const internal = edges.filter((e) => !e.external);

const BASE = ['src/errors.ts', 'src/util'];
/** Part -> the parts it may import (besides itself). A new part must be added here (and to docs/ARCHITECTURE.md). */
const MAY_IMPORT: Record<string, readonly string[]> = {
  'src/errors.ts': [],
  'src/stage.ts': [],
  'src/util': ['src/errors.ts'],
  'src/hf': BASE,
  'src/graph': BASE,
  'src/hash': BASE,
  'src/hub': BASE,
  'src/slurm': BASE,
  'src/config': [...BASE, 'src/stage.ts', 'src/graph'],
  'src/store': [...BASE, 'src/stage.ts', 'src/hash'],
  'src/plan': [...BASE, 'src/stage.ts', 'src/config', 'src/graph', 'src/hash', 'src/store'],
  'src/exec': [...BASE, 'src/stage.ts', 'src/config', 'src/graph', 'src/hash', 'src/store', 'src/plan', 'src/slurm'],
  'src/watch': [...BASE, 'src/stage.ts', 'src/config', 'src/exec'],
  'src/engine': [...BASE, 'src/hf'],
  'src/doctor': [...BASE, 'src/hub', 'src/store', 'src/slurm'],
  // onnxruntime-node running an ONNX export (`generate --runtime onnx`), beside the native engine.
  'src/onnx': [...BASE, 'src/hf'],
  // wave 2 (docs/ARCHITECTURE.md): a server over the store and the executor (its dashboard is the report); a static
  // report over the store.
  'src/serve': [...BASE, 'src/stage.ts', 'src/hf', 'src/engine', 'src/config', 'src/graph', 'src/hash', 'src/store', 'src/plan', 'src/exec', 'src/report'],
  'src/report': [...BASE, 'src/stage.ts', 'src/config', 'src/graph', 'src/store', 'src/plan'],
  // the composition root: everything in src/, and the stage-kind registry (never a kind's own files)
  'src/cli': [
    ...BASE,
    ...['stage.ts', 'hf', 'graph', 'hash', 'hub', 'config', 'store', 'plan', 'exec', 'watch', 'engine', 'doctor', 'serve', 'report', 'slurm', 'onnx'].map(
      (p) => `src/${p}`,
    ),
    'stages/index.ts',
  ],
  'stages/shared': [...BASE, 'src/stage.ts', 'src/hf', 'src/engine', 'src/hash', 'src/store'],
  'stages/index.ts': ['src/stage.ts', ...['model', 'dataset', 'adapter', 'composition', 'eval', 'export', 'command'].map((k) => `stages/${k}`)],
};
const KIND = [...BASE, 'src/stage.ts', 'src/hf', 'src/engine', 'src/hash', 'src/hub', 'src/store', 'stages/shared'];

const isKind = (part: string): boolean => part.startsWith('stages/') && !part.endsWith('.ts') && part !== 'stages/shared';
const allowed = (part: string): readonly string[] | undefined => MAY_IMPORT[part] ?? (isKind(part) ? KIND : undefined);
const where = (e: ImportEdge): string => `${e.from} imports ${e.to}`;

describe('dependency rules (docs/ARCHITECTURE.md)', () => {
  it('reads the real import graph (not vacuously empty)', () => {
    expect(internal.length).toBeGreaterThan(300);
    expect(internal.some((e) => e.from === 'src/cli/toolchain.ts' && e.to === 'stages/index.ts')).toBe(true);
    expect(edges.some((e) => e.from === 'src/engine/native.ts' && e.to === 'node:module')).toBe(true);
  });

  it('every part is known to the rules', () => {
    const parts = new Set(internal.flatMap((e) => [partOf(e.from), partOf(e.to)]));
    expect(
      [...parts].filter((p) => allowed(p) === undefined),
      'add the new part to MAY_IMPORT and to docs/ARCHITECTURE.md',
    ).toEqual([]);
  });

  it('nothing imports src/cli', () => {
    expect(internal.filter((e) => partOf(e.to) === 'src/cli' && partOf(e.from) !== 'src/cli').map(where)).toEqual([]);
  });

  it('stage kinds never import each other (shared code lives in stages/shared)', () => {
    const bad = internal.filter((e) => {
      const [a, b] = [partOf(e.from), partOf(e.to)];
      return a !== b && (isKind(a) || a === 'stages/shared') && isKind(b);
    });
    expect(bad.map(where)).toEqual([]);
  });

  it('src/engine imports only the addon, its own files, src/hf and src/util (and node built-ins)', () => {
    const engine = edges.filter((e) => partOf(e.from) === 'src/engine');
    const bad = engine.filter((e) => (e.external ? !e.to.startsWith('node:') : !['src/engine', 'src/hf', 'src/util', 'src/errors.ts'].includes(partOf(e.to))));
    expect(bad.map(where)).toEqual([]);
  });

  it('config does not import stages (the registry is handed in) nor the engine, planning or execution', () => {
    const bad = internal.filter(
      (e) => partOf(e.from) === 'src/config' && (e.to.startsWith('stages/') || ['src/engine', 'src/plan', 'src/exec', 'src/store'].includes(partOf(e.to))),
    );
    expect(bad.map(where)).toEqual([]);
  });

  it('the core (src/) never imports stages/, except the CLI importing the registry', () => {
    const bad = internal.filter(
      (e) => e.from.startsWith('src/') && e.to.startsWith('stages/') && !(partOf(e.from) === 'src/cli' && e.to === 'stages/index.ts'),
    );
    expect(bad.map(where)).toEqual([]);
  });

  it('each part imports only what the rules allow', () => {
    const bad = internal.filter((e) => {
      const [a, b] = [partOf(e.from), partOf(e.to)];
      return a !== b && !(allowed(a) ?? []).includes(b);
    });
    expect(bad.map(where)).toEqual([]);
  });

  it('no two parts reach each other through imports', () => {
    expect(cycles(partGraph(edges))).toEqual([]);
  });
});
