// stats.json of a dataset artifact: counts at every step and why records left, PII by type, token lengths
// (histogram and percentiles) per split; and its plain-text rendering (stats.txt, `peftmake show`).

export interface StepStats {
  step: string;
  in: number;
  out: number;
  removed: Record<string, number>;
}

export interface LengthStats {
  count: number;
  tokens: number;
  lossTokens: number;
  min: number;
  max: number;
  mean: number;
  p50: number;
  p95: number;
  histogram: { upTo: number; count: number }[];
}

export interface DatasetStats {
  name: string;
  format: string;
  tokenizer: string;
  sources: {
    split: 'train' | 'valid';
    files: { file: string; records: number; bytes: number }[];
    bytes: number;
    hub?: { id: string; sha: string; fromCache: boolean };
  }[];
  badRecords: { count: number; examples: { where: string; reason: string }[] };
  steps: StepStats[];
  pii: { mode: string; byType: Record<string, number>; records: number };
  maxTokens: { limit: number | null; mode: string; dropped: number; truncated: number; droppedNoLoss: number };
  split: { mode: 'fraction' | 'source'; valid: number; seed: number };
  /** Lengths of examples (documents for `text`) before packing. */
  lengths: { train: LengthStats; valid: LengthStats };
  output: { train: number; valid: number; seqLen: number | null; trainTokens: number; validTokens: number; trainLossTokens: number; validLossTokens: number };
}

export function lengthStats(lengths: readonly number[] | Int32Array, lossTokens: number): LengthStats {
  const sorted = [...lengths].sort((a, b) => a - b);
  const n = sorted.length;
  const tokens = sorted.reduce((a, b) => a + b, 0);
  const pct = (p: number) => (n ? sorted[Math.min(n - 1, Math.floor(p * (n - 1) + 0.5))] : 0);
  const histogram: { upTo: number; count: number }[] = [];
  if (n) {
    for (let edge = 16; ; edge *= 2) {
      histogram.push({ upTo: edge, count: 0 });
      if (edge >= sorted[n - 1]) break;
    }
    let b = 0;
    for (const len of sorted) {
      while (len > histogram[b].upTo) b++;
      histogram[b].count++;
    }
  }
  return {
    count: n,
    tokens,
    lossTokens,
    min: n ? sorted[0] : 0,
    max: n ? sorted[n - 1] : 0,
    mean: n ? Math.round((tokens / n) * 10) / 10 : 0,
    p50: pct(0.5),
    p95: pct(0.95),
    histogram,
  };
}

function bar(count: number, max: number, width = 30): string {
  return '#'.repeat(max ? Math.round((count / max) * width) : 0);
}

export function renderStats(s: DatasetStats): string {
  const lines: string[] = [];
  lines.push(`${s.name} (${s.format}, tokenizer ${s.tokenizer})`);
  for (const src of s.sources) {
    const hub = src.hub ? ` from hub ${src.hub.id}@${src.hub.sha.slice(0, 12)}${src.hub.fromCache ? ' (cache)' : ''}` : '';
    lines.push(`  ${src.split} source${hub}: ${src.files.length} file(s), ${(src.bytes / 1e6).toFixed(2)} MB`);
  }
  lines.push('steps:');
  for (const st of s.steps) {
    const why = Object.entries(st.removed)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
    lines.push(`  ${st.step.padEnd(14)} ${String(st.in).padStart(8)} -> ${String(st.out).padEnd(8)}${why ? ` removed: ${why}` : ''}`);
  }
  if (s.badRecords.count) {
    lines.push(`bad records skipped: ${s.badRecords.count}`);
    for (const b of s.badRecords.examples.slice(0, 5)) lines.push(`  ${b.where}: ${b.reason}`);
  }
  const pii = Object.entries(s.pii.byType).filter(([, n]) => n > 0);
  lines.push(
    `pii (${s.pii.mode}): ${pii.length ? pii.map(([k, n]) => `${k} ${n}`).join(', ') : 'none found'}${s.pii.records ? ` in ${s.pii.records} record(s)` : ''}`,
  );
  lines.push(
    `maxTokens ${s.maxTokens.limit ?? 'none'} (${s.maxTokens.mode}): dropped ${s.maxTokens.dropped}, truncated ${s.maxTokens.truncated}, dropped with no answer left ${s.maxTokens.droppedNoLoss}`,
  );
  lines.push(`split: ${s.split.mode === 'source' ? 'explicit valid source' : `valid ${s.split.valid} by seed ${s.split.seed}`}`);
  for (const part of ['train', 'valid'] as const) {
    const l = s.lengths[part];
    lines.push(
      `${part}: ${l.count} ${s.format === 'text' ? 'documents' : 'examples'}, ${l.tokens} tokens (${l.lossTokens} with loss), length min ${l.min} p50 ${l.p50} p95 ${l.p95} max ${l.max} mean ${l.mean}`,
    );
    const max = Math.max(0, ...l.histogram.map((h) => h.count));
    for (const h of l.histogram) lines.push(`  <= ${String(h.upTo).padStart(6)} ${String(h.count).padStart(7)} ${bar(h.count, max)}`);
  }
  const o = s.output;
  lines.push(
    `output: train.jsonl ${o.train} ${o.seqLen ? `sequences of <= ${o.seqLen} tokens` : 'examples'} (${o.trainTokens} tokens, ${o.trainLossTokens} with loss), valid.jsonl ${o.valid} (${o.validTokens} tokens, ${o.validLossTokens} with loss)`,
  );
  return lines.join('\n') + '\n';
}
