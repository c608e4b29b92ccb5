// Differences between two committed versions of a stage: config, input files, params, upstream, metrics,
// output files, plus any lines the stage kind adds (e.g. adapter weight norms).
import type { DiffLine, StageKind, StageManifest, UpstreamArtifact } from '../stage.ts';
import { canonicalJson } from '../hash/canonical-json.ts';
import { flatten } from '../util/flatten.ts';

export interface Change {
  key: string;
  old: unknown;
  new: unknown;
}

export interface FileChange {
  path: string;
  change: 'added' | 'removed' | 'modified';
}

export interface VersionDiff {
  stage: string;
  from: { version: number; key: string };
  to: { version: number; key: string };
  config: Change[];
  params: Change[];
  inputs: FileChange[];
  upstream: Change[];
  metrics: (Change & { delta?: number })[];
  outputs: FileChange[];
  kind: DiffLine[];
}

function changes(a: Record<string, unknown>, b: Record<string, unknown>): Change[] {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys.filter((k) => canonicalJson(a[k]) !== canonicalJson(b[k])).map((k) => ({ key: k, old: a[k] ?? null, new: b[k] ?? null }));
}

function fileChanges(a: { path: string; sha256: string }[] = [], b: { path: string; sha256: string }[] = []): FileChange[] {
  const before = new Map(a.map((x) => [x.path, x.sha256]));
  const after = new Map(b.map((x) => [x.path, x.sha256]));
  const out: FileChange[] = [];
  for (const [p, h] of after)
    if (!before.has(p)) out.push({ path: p, change: 'added' });
    else if (before.get(p) !== h) out.push({ path: p, change: 'modified' });
  for (const p of before.keys()) if (!after.has(p)) out.push({ path: p, change: 'removed' });
  return out.sort((x, y) => x.path.localeCompare(y.path));
}

export async function diffVersions(kind: StageKind | undefined, a: UpstreamArtifact, b: UpstreamArtifact): Promise<VersionDiff> {
  const ma: StageManifest = a.manifest;
  const mb: StageManifest = b.manifest;
  const metrics = changes(flatten(ma.metrics), flatten(mb.metrics)).map((c) =>
    typeof c.old === 'number' && typeof c.new === 'number' ? { ...c, delta: c.new - c.old } : c,
  );
  return {
    stage: a.name,
    from: { version: a.version, key: a.key },
    to: { version: b.version, key: b.key },
    config: changes(flatten(ma.config), flatten(mb.config)),
    params: changes(ma.params ?? {}, mb.params ?? {}),
    inputs: fileChanges(ma.inputs, mb.inputs),
    upstream: changes(ma.upstream, mb.upstream),
    metrics,
    outputs: fileChanges(ma.outputs, mb.outputs),
    kind: kind?.diff ? await kind.diff(a, b) : [],
  };
}

export function formatDiff(d: VersionDiff): string[] {
  const out = [`${d.stage}: v${d.from.version} (${d.from.key.slice(0, 12)}) -> v${d.to.version} (${d.to.key.slice(0, 12)})`];
  const section = (title: string, lines: string[]): void => {
    if (!lines.length) return;
    out.push(`${title}:`);
    out.push(...lines.map((l) => `  ${l}`));
  };
  const j = (v: unknown): string => JSON.stringify(v);
  section(
    'config',
    d.config.map((c) => `${c.key}: ${j(c.old)} -> ${j(c.new)}`),
  );
  section(
    'params',
    d.params.map((c) => `${c.key}: ${j(c.old)} -> ${j(c.new)}`),
  );
  section(
    'inputs',
    d.inputs.map((f) => `${f.change === 'added' ? '+' : f.change === 'removed' ? '-' : 'M'} ${f.path}`),
  );
  section(
    'upstream',
    d.upstream.map((c) => `${c.key}: ${String(c.old).slice(0, 12)} -> ${String(c.new).slice(0, 12)}`),
  );
  section(
    'metrics',
    d.metrics.map(
      (c) => `${c.key}: ${j(c.old)} -> ${j(c.new)}${c.delta !== undefined ? ` (${c.delta >= 0 ? '+' : ''}${Number(c.delta.toPrecision(6))})` : ''}`,
    ),
  );
  section(
    'outputs',
    d.outputs.map((f) => `${f.change === 'added' ? '+' : f.change === 'removed' ? '-' : 'M'} ${f.path}`),
  );
  const bySection = new Map<string, string[]>();
  for (const l of d.kind) bySection.set(l.section, [...(bySection.get(l.section) ?? []), l.text]);
  for (const [s, lines] of bySection) section(s, lines);
  if (out.length === 1) out.push('no differences recorded');
  return out;
}
