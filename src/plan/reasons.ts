// Structured reasons why a stage is not fresh, computed by comparing the new key material with the committed manifest.
import type { StageManifest } from '../stage.ts';
import { canonicalJson } from '../hash/canonical-json.ts';

export type Reason =
  | { type: 'no-record' }
  | { type: 'dep-modified'; path: string }
  | { type: 'dep-added'; path: string }
  | { type: 'dep-removed'; path: string }
  | { type: 'param-changed'; key: string; old: unknown; new: unknown }
  | { type: 'upstream-changed'; stage: string }
  | { type: 'impl-changed'; old: string; new: string }
  | { type: 'engine-changed'; old: string; new: string }
  | { type: 'output-missing'; path?: string }
  | { type: 'artifact-corrupt'; problem: string };

/** What a stage key is computed from (also stored, field by field, in the manifest). */
export interface KeyMaterial {
  kind: string;
  implVersion: string;
  config: unknown;
  inputs: { path: string; sha256: string }[];
  params: Record<string, unknown>;
  upstream: Record<string, string>;
  resolved: Record<string, unknown>;
  engineVersion: string;
}

/** Flattens nested objects to dotted leaf paths; arrays and scalars are leaves. */
export function flatten(v: unknown, prefix = '', out: Record<string, unknown> = {}): Record<string, unknown> {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const entries = Object.entries(v as Record<string, unknown>);
    if (entries.length === 0 && prefix) out[prefix] = {};
    for (const [k, x] of entries) flatten(x, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) out[prefix] = v;
  return out;
}

function changedLeaves(oldV: unknown, newV: unknown, prefix = ''): Reason[] {
  const a = flatten(oldV);
  const b = flatten(newV);
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys
    .filter((k) => canonicalJson(a[k]) !== canonicalJson(b[k]))
    .map((k) => ({ type: 'param-changed' as const, key: `${prefix}${k}`, old: a[k] ?? null, new: b[k] ?? null }));
}

export function diffReasons(old: StageManifest, m: KeyMaterial): Reason[] {
  const reasons: Reason[] = [];
  if (old.implVersion !== m.implVersion) reasons.push({ type: 'impl-changed', old: old.implVersion, new: m.implVersion });
  if (old.engineVersion !== m.engineVersion) reasons.push({ type: 'engine-changed', old: old.engineVersion, new: m.engineVersion });
  reasons.push(...changedLeaves(old.config, m.config));
  for (const [k, v] of Object.entries(m.params)) {
    const was = old.params?.[k];
    if (canonicalJson(was) !== canonicalJson(v)) reasons.push({ type: 'param-changed', key: k, old: was ?? null, new: v });
  }
  for (const k of Object.keys(old.params ?? {})) if (!(k in m.params)) reasons.push({ type: 'param-changed', key: k, old: old.params![k], new: null });
  reasons.push(...changedLeaves(old.resolved, m.resolved, 'resolved.'));
  const before = new Map(old.inputs.map((i) => [i.path, i.sha256]));
  const after = new Map(m.inputs.map((i) => [i.path, i.sha256]));
  for (const [p, h] of after) {
    if (!before.has(p)) reasons.push({ type: 'dep-added', path: p });
    else if (before.get(p) !== h) reasons.push({ type: 'dep-modified', path: p });
  }
  for (const p of before.keys()) if (!after.has(p)) reasons.push({ type: 'dep-removed', path: p });
  for (const [s, k] of Object.entries(m.upstream)) if (old.upstream[s] !== k) reasons.push({ type: 'upstream-changed', stage: s });
  return reasons;
}

export function formatReason(r: Reason): string {
  switch (r.type) {
    case 'no-record':
      return 'no-record';
    case 'dep-modified':
    case 'dep-added':
    case 'dep-removed':
      return `${r.type} ${r.path}`;
    case 'param-changed':
      return `param-changed ${r.key}: ${JSON.stringify(r.old)} -> ${JSON.stringify(r.new)}`;
    case 'upstream-changed':
      return `upstream-changed ${r.stage}`;
    case 'impl-changed':
    case 'engine-changed':
      return `${r.type} ${r.old} -> ${r.new}`;
    case 'output-missing':
      return r.path ? `output-missing ${r.path}` : 'output-missing';
    case 'artifact-corrupt':
      return `artifact-corrupt ${r.problem} (rebuilding it)`;
  }
}
