// Loads pipeline.json: strict parse with line numbers -> JSON Schema (ajv, all errors, defaults filled) ->
// semantic rules -> a frozen, fully resolved Pipeline. Every problem is reported at once with file:line and pointer.
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import type { ValidateFunction } from 'ajv';
import { PeftError } from '../errors.ts';
import type { StageKind } from '../stage.ts';
import { buildPipelineSchema } from './pipeline-schema.ts';
import { validatorForSchema } from './validator.ts';
import { JsonSyntaxError, lineOf, parseJsonWithLocations, type JsonLocation, type ParsedJson } from './json-source.ts';
import { formatSchemaErrors } from './schema-errors.ts';
import { checkSemantics } from './semantic.ts';
import { topoOrder } from '../graph/graph.ts';
import type { Pipeline } from './types.ts';

const validators = new WeakMap<readonly StageKind[], ValidateFunction>();

function validatorFor(kinds: readonly StageKind[]): ValidateFunction {
  let v = validators.get(kinds);
  if (!v) {
    // The validator precompiled by `npm run schema` when it was made from this very schema (the built-in kinds); others compile.
    v = validatorForSchema(buildPipelineSchema(kinds));
    validators.set(kinds, v);
  }
  return v;
}

export function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

interface Problem {
  pointer: string;
  message: string;
  atKey?: boolean;
}

function report(code: string, label: string, locations: Map<string, JsonLocation>, problems: Problem[]): PeftError {
  const lines = problems
    .map((p) => ({ p, line: lineOf(locations, p.pointer, p.atKey) }))
    .sort((a, b) => (a.line ?? 0) - (b.line ?? 0))
    .map(({ p, line }) => `${label}${line ? `:${line}` : ''} ${p.pointer || '/'}: ${p.message}`);
  return new PeftError(code, lines.join('\n'), {
    file: label,
    problems: lines,
    hint: `fix ${problems.length === 1 ? 'this problem' : `these ${problems.length} problems`} in ${label}; \`peftmake validate\` re-checks it`,
  });
}

export interface LoadOptions {
  /** The stage-kind registry, handed in by the entry point (stages/index.ts for the CLI). */
  kinds: readonly StageKind[];
  cwd?: string;
}

/** Parses and checks pipeline text; `file` is used for messages and to locate the project. */
export function loadPipelineText(text: string, file: string, opts: LoadOptions): Pipeline {
  const kinds = opts.kinds;
  const abs = resolve(opts.cwd ?? process.cwd(), file);
  const label = relative(opts.cwd ?? process.cwd(), abs) || abs;
  let parsed: ParsedJson;
  try {
    parsed = parseJsonWithLocations(text);
  } catch (e) {
    if (e instanceof JsonSyntaxError)
      throw new PeftError('E_CONFIG_PARSE', `${label}:${e.line}:${e.column}: invalid JSON: ${e.message}`, {
        file: label,
        line: e.line,
        hint: 'pipeline.json must be strict JSON (double quotes, no comments, no trailing commas)',
      });
    throw e;
  }
  const { value, locations, duplicates } = parsed;
  const dupProblems: Problem[] = duplicates.map((d) => ({
    pointer: d.pointer,
    message: `duplicate name "${decodeURIComponent(d.pointer.split('/').pop()!.replace(/~1/g, '/').replace(/~0/g, '~'))}" (each name may appear once)`,
    atKey: true,
  }));
  const resolved = structuredClone(value) as Record<string, unknown>;
  const validate = validatorFor(kinds);
  if (!validate(resolved)) {
    throw report('E_CONFIG_SCHEMA', label, locations, [...formatSchemaErrors(validate.errors ?? []), ...dupProblems]);
  }
  for (const k of kinds) {
    if (!k.resolveConfig) continue;
    const section = resolved[k.section] as Record<string, unknown>;
    for (const n of Object.keys(section)) section[n] = k.resolveConfig(`${k.section}.${n}`, section[n], resolved);
  }
  deepFreeze(resolved);
  const { entries, problems } = checkSemantics(resolved, kinds);
  if (problems.length || dupProblems.length) throw report('E_CONFIG_SEMANTIC', label, locations, [...dupProblems, ...problems]);
  const edges = new Map([...entries].map(([n, e]) => [n, e.upstream as readonly string[]]));
  for (const e of entries.values()) deepFreeze(e.deps);
  return {
    file: abs,
    label,
    projectDir: dirname(abs),
    config: resolved,
    stages: entries,
    order: topoOrder([...entries.keys()], edges),
    edges,
  };
}

export function loadPipeline(file: string, opts: LoadOptions): Pipeline {
  const abs = resolve(opts.cwd ?? process.cwd(), file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch {
    throw new PeftError('E_NOT_FOUND', `${file}: no such pipeline file`, { file, hint: 'run in a project directory or pass -f FILE' });
  }
  return loadPipelineText(text, file, opts);
}
