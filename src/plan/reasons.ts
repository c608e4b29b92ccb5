// Structured reasons why a stage is not fresh, computed by comparing the new key material with the committed manifest.
import type { StageManifest } from '../stage.ts';
import { canonicalJson } from '../hash/canonical-json.ts';
import type { Reason } from '../store/reasons.ts';
import { flatten } from '../util/flatten.ts';

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
