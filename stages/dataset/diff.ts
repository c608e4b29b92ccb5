// Dataset-specific lines for `peftmake diff datasets.X vA vB`: how the counts at each step, PII and the output changed.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DiffLine, UpstreamArtifact } from '../../src/stage.ts';
import type { DatasetStats } from './stats.ts';

function readStats(a: UpstreamArtifact): DatasetStats | undefined {
  const f = join(a.dir, 'stats.json');
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as DatasetStats) : undefined;
}

function change(label: string, x: number, y: number): string | undefined {
  if (x === y) return undefined;
  const pct = x ? ` (${y >= x ? '+' : ''}${(((y - x) / x) * 100).toFixed(1)}%)` : '';
  return `${label}: ${x} -> ${y}${pct}`;
}

export async function diffDatasets(a: UpstreamArtifact, b: UpstreamArtifact): Promise<DiffLine[]> {
  const sa = readStats(a);
  const sb = readStats(b);
  if (!sa || !sb) return [{ section: 'dataset', text: 'stats.json missing in one of the versions' }];
  const lines: DiffLine[] = [];
  const push = (section: string, text: string | undefined, data?: Record<string, unknown>) => text && lines.push({ section, text, data });
  const steps = new Set([...sa.steps.map((s) => s.step), ...sb.steps.map((s) => s.step)]);
  for (const st of steps) {
    const x = sa.steps.find((s) => s.step === st);
    const y = sb.steps.find((s) => s.step === st);
    push('steps', change(`${st} out`, x?.out ?? 0, y?.out ?? 0), { step: st, from: x?.out ?? 0, to: y?.out ?? 0 });
  }
  const types = new Set([...Object.keys(sa.pii.byType), ...Object.keys(sb.pii.byType)]);
  for (const t of types) push('pii', change(`pii ${t}`, sa.pii.byType[t] ?? 0, sb.pii.byType[t] ?? 0));
  for (const k of ['train', 'valid', 'trainTokens', 'validTokens', 'trainLossTokens', 'validLossTokens'] as const)
    push('output', change(k, sa.output[k], sb.output[k]), { field: k, from: sa.output[k], to: sb.output[k] });
  push('badRecords', change('bad records', sa.badRecords.count, sb.badRecords.count));
  return lines;
}
