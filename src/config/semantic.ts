// Semantic rules checked after the schema: references resolve (with "did you mean"), no cycles, no output claimed
// twice, no path escaping the project. Also derives each stage's entry (deps, upstream, outputs) for planning.
import type { StageKind, StageReference, Section } from '../stage.ts';
import type { StageEntry } from './types.ts';
import { didYouMean } from '../util/suggest.ts';
import { escapePointerToken } from './json-source.ts';
import { findPointer } from './find-pointer.ts';
import { escapesProject, globBase, isGlob, isWithin, normalizeRel, overlaps } from '../util/paths.ts';
import { findCycle } from '../graph/graph.ts';
import { OutputClaims } from './output-claims.ts';

export interface SemanticProblem {
  pointer: string;
  message: string;
  atKey?: boolean;
}

export interface SemanticResult {
  entries: Map<string, StageEntry>;
  problems: SemanticProblem[];
}

export function checkSemantics(config: Record<string, unknown>, kinds: readonly StageKind[]): SemanticResult {
  const problems: SemanticProblem[] = [];
  const entries = new Map<string, StageEntry>();
  const refs = new Map<string, StageReference[]>();

  for (const kind of kinds) {
    const section = (config[kind.section] ?? {}) as Record<string, Record<string, unknown>>;
    for (const [entryName, cfg] of Object.entries(section)) {
      const name = `${kind.section}.${entryName}`;
      const pointer = `/${kind.section}/${escapePointerToken(entryName)}`;
      const deps = kind.deps(name, cfg as never, config);
      const outputs = (kind.workspaceOutputs?.(name, cfg as never) ?? []).map(normalizeRel);
      const heavy = kind.isHeavy ? kind.isHeavy(cfg as never) : Boolean(kind.heavy);
      entries.set(name, {
        name,
        section: kind.section as Section,
        entryName,
        kind,
        pointer,
        config: cfg,
        deps,
        upstream: [],
        files: deps.files.map(normalizeRel),
        excludes: [],
        outputs,
        heavy,
      });
      refs.set(name, kind.references?.(name, cfg as never) ?? deps.upstream.map((target) => ({ pointer: '', target })));
    }
  }

  const where = (e: StageEntry, value: string, fallback = ''): string => {
    const p = findPointer(e.config, value);
    return `${e.pointer}${p ?? fallback}`;
  };

  // References resolve.
  for (const [name, list] of refs) {
    const e = entries.get(name)!;
    const ups = new Set<string>();
    for (const r of list) {
      if (entries.has(r.target)) {
        ups.add(r.target);
        continue;
      }
      const [section, ...rest] = r.target.split('.');
      const wanted = rest.join('.');
      const candidates = [...entries.values()].filter((x) => x.section === section).map((x) => x.entryName);
      const what = section.replace(/s$/, '');
      problems.push({
        pointer: `${e.pointer}${r.pointer}`,
        message: `${what} "${wanted}" is not defined in "${section}"${didYouMean(wanted, candidates)}`,
      });
    }
    e.upstream = [...ups];
  }

  // Paths stay inside the project.
  for (const e of entries.values()) {
    for (const f of e.deps.files)
      if (escapesProject(f)) problems.push({ pointer: where(e, f), message: `path "${f}" escapes the project directory (use a path inside it)` });
    for (const [i, o] of (e.kind.workspaceOutputs?.(e.name, e.config as never) ?? []).entries()) {
      if (escapesProject(o))
        problems.push({ pointer: where(e, o, `/outs/${i}`), message: `output "${o}" escapes the project directory (use a path inside it)` });
      else if (normalizeRel(o) === '.')
        problems.push({ pointer: where(e, o, `/outs/${i}`), message: `output "${o}" is the whole project directory (name a file or folder inside it)` });
      else if (isGlob(o)) problems.push({ pointer: where(e, o), message: `output "${o}" must be a path, not a glob` });
    }
  }

  // Outputs claimed by two stages.
  const claimed = new OutputClaims();
  for (const e of entries.values()) {
    const raw = e.kind.workspaceOutputs?.(e.name, e.config as never) ?? [];
    e.outputs.forEach((out, i) => {
      if (escapesProject(out) || out === '.') return;
      const other = claimed.firstOverlap(out, e);
      if (other) {
        const rel = other.out === out ? 'is also an output of' : isWithin(out, other.out) ? 'lies inside output' : 'contains output';
        const tail = other.out === out ? `${other.stage.name}` : `"${other.out}" of ${other.stage.name}`;
        problems.push({ pointer: where(e, raw[i]), message: `output "${out}" ${rel} ${tail}` });
      }
      claimed.add(e, out, raw[i]);
    });
  }

  // Files read from another stage's outputs make that stage upstream (and are not hashed as files).
  for (const e of entries.values()) {
    const files: string[] = [];
    const upstream = new Set(e.upstream);
    const excludes = new Set(e.excludes);
    for (const f of e.files) {
      if (escapesProject(f)) continue;
      const base = isGlob(f) ? globBase(f) : f;
      const own = e.outputs.find((o) => overlaps(o, base));
      if (own) {
        problems.push({ pointer: where(e, e.deps.files[e.files.indexOf(f)]), message: `input "${f}" overlaps this stage's own output "${own}"` });
        continue;
      }
      let covered = false;
      for (const c of claimed.atOrAbove(base))
        if (c.stage !== e) {
          covered = true;
          upstream.add(c.stage.name);
        }
      for (const c of claimed.atOrBelow(base))
        if (c.stage !== e && !isWithin(base, c.out)) {
          upstream.add(c.stage.name);
          excludes.add(c.out);
        }
      if (!covered) files.push(f);
    }
    e.files = files;
    e.upstream = [...upstream].sort();
    e.excludes = [...excludes].sort();
  }

  // No cycles.
  const edges = new Map([...entries].map(([n, e]) => [n, e.upstream]));
  const cycle = findCycle([...entries.keys()], edges);
  if (cycle) problems.push({ pointer: entries.get(cycle[0])!.pointer, message: `dependency cycle: ${cycle.join(' -> ')}`, atKey: true });

  return { entries, problems };
}
