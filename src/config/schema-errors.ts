// Turns ajv's raw errors into one clear line per problem: `pointer: must be integer >= 1 (got "16")`.
import type { ErrorObject } from 'ajv';
import { didYouMean } from '../util/suggest.ts';
import { escapePointerToken } from './json-source.ts';

export interface SchemaProblem {
  pointer: string;
  message: string;
  /** Report the line of the member name rather than of its value (unknown fields). */
  atKey?: boolean;
}

const show = (v: unknown): string => (v === undefined ? 'nothing' : JSON.stringify(v));

function bounds(schema: Record<string, unknown> | undefined): string {
  if (!schema) return '';
  const parts: string[] = [];
  if (typeof schema.minimum === 'number') parts.push(`>= ${schema.minimum}`);
  if (typeof schema.exclusiveMinimum === 'number') parts.push(`> ${schema.exclusiveMinimum}`);
  if (typeof schema.maximum === 'number') parts.push(`<= ${schema.maximum}`);
  if (typeof schema.exclusiveMaximum === 'number') parts.push(`< ${schema.exclusiveMaximum}`);
  return parts.length ? ` ${parts.join(' and ')}` : '';
}

function typeName(schema: Record<string, unknown> | undefined): string {
  const t = schema?.type;
  if (Array.isArray(t)) return t.join(' or ');
  return typeof t === 'string' ? t : 'number';
}

function describeBranch(b: Record<string, unknown>): string {
  if ('const' in b) return JSON.stringify(b.const);
  if (Array.isArray(b.enum)) return b.enum.map((v) => JSON.stringify(v)).join(' or ');
  if (b.type === 'array' && b.items && typeof b.items === 'object') {
    const it = b.items as Record<string, unknown>;
    if (Array.isArray(it.enum)) return `an array of ${it.enum.map((v) => JSON.stringify(v)).join(', ')}`;
    return `an array of ${typeName(it)}s`;
  }
  return typeof b.type === 'string' ? `a ${b.type}` : 'a valid value';
}

function one(e: ErrorObject): SchemaProblem | undefined {
  const ps = e.parentSchema as Record<string, unknown> | undefined;
  const at = e.instancePath;
  switch (e.keyword) {
    case 'type':
      return { pointer: at, message: `must be ${typeName(ps)}${bounds(ps)} (got ${show(e.data)})` };
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return { pointer: at, message: `must be ${ps?.type === 'integer' ? 'integer ' : ''}${bounds(ps).trim()} (got ${show(e.data)})` };
    case 'enum': {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
      const hint = typeof e.data === 'string' ? didYouMean(e.data, allowed.map(String)) : '';
      return { pointer: at, message: `must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')} (got ${show(e.data)})${hint}` };
    }
    case 'const':
      return { pointer: at, message: `must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)} (got ${show(e.data)})` };
    case 'additionalProperties': {
      const field = (e.params as { additionalProperty: string }).additionalProperty;
      const known = Object.keys((ps?.properties as object) ?? {});
      return { pointer: `${at}/${escapePointerToken(field)}`, message: `unknown field "${field}"${didYouMean(field, known)}`, atKey: true };
    }
    case 'required':
      return { pointer: at, message: `missing required field "${(e.params as { missingProperty: string }).missingProperty}"` };
    case 'pattern':
      if (e.propertyName !== undefined)
        return {
          pointer: `${at}/${escapePointerToken(e.propertyName)}`,
          message: `invalid name "${e.propertyName}": use letters, digits, "_" and "-" (it becomes part of the stage name)`,
          atKey: true,
        };
      return { pointer: at, message: `must match ${String((e.params as { pattern: string }).pattern)} (got ${show(e.data)})` };
    case 'propertyNames':
      return undefined; // reported by the pattern error it wraps
    case 'minItems':
      return { pointer: at, message: `must have at least ${(e.params as { limit: number }).limit} item(s)` };
    case 'minLength':
      return { pointer: at, message: `must not be empty` };
    case 'uniqueItems': {
      const p = e.params as { i: number; j: number };
      return { pointer: at, message: `must not repeat items (items ${Math.min(p.i, p.j)} and ${Math.max(p.i, p.j)} are equal)` };
    }
    case 'minProperties':
      return { pointer: at, message: `must have at least ${(e.params as { limit: number }).limit} field(s)` };
    default:
      return { pointer: at, message: `${e.message ?? 'is invalid'} (got ${show(e.data)})` };
  }
}

/** Collapses anyOf / oneOf branch noise into one line and formats the rest. */
export function formatSchemaErrors(errors: readonly ErrorObject[]): SchemaProblem[] {
  const dropped = new Set<ErrorObject>();
  const replaced = new Map<ErrorObject, SchemaProblem>();
  for (const e of errors) {
    if (e.keyword !== 'anyOf' && e.keyword !== 'oneOf') continue;
    const ps = e.parentSchema as Record<string, unknown>;
    const branches = (ps[e.keyword] as Record<string, unknown>[]) ?? [];
    const prefix = `${e.schemaPath}/`;
    const inner = errors.filter((x) => x !== e && x.schemaPath.startsWith(prefix));
    const passing = (e.params as { passingSchemas?: number[] | null }).passingSchemas;
    const requiredOnly = branches.every((b) => Array.isArray(b.required) && Object.keys(b).length === 1);
    if (requiredOnly) {
      const names = branches.map((b) => `"${(b.required as string[])[0]}"`);
      const both = passing ? ` (got ${passing.map((i) => names[i]).join(' and ')})` : '';
      replaced.set(e, { pointer: e.instancePath, message: `must set exactly one of ${names.join(', ')}${both}` });
      inner.forEach((x) => dropped.add(x));
      continue;
    }
    const deeper = inner.filter((x) => x.instancePath.length > e.instancePath.length);
    const branchOf = (x: ErrorObject): string => x.schemaPath.slice(prefix.length).split('/')[0];
    if (deeper.length > 0 && new Set(deeper.map(branchOf)).size === 1) {
      inner.filter((x) => !deeper.includes(x)).forEach((x) => dropped.add(x));
      dropped.add(e);
      continue;
    }
    inner.forEach((x) => dropped.add(x));
    replaced.set(e, { pointer: e.instancePath, message: `must be ${branches.map(describeBranch).join(' or ')} (got ${show(e.data)})` });
  }
  const out: SchemaProblem[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    if (dropped.has(e)) continue;
    const p = replaced.get(e) ?? one(e);
    if (!p) continue;
    const id = `${p.pointer}\0${p.message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(p);
  }
  return out;
}
