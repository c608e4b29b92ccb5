// The HTML of a dataset: sources, what each preparation step removed and why, PII redaction counts, token-length
// stats with a histogram, and a few samples with the loss-carrying part marked.
import type { DatasetSample, DatasetView } from '../model.ts';
import { barChart } from '../svg/bar-chart.ts';
import { SPLIT_COLORS } from './colors.ts';
import { esc, fmt } from './escape.ts';

export function samplesHtml(samples: DatasetSample[]): string {
  if (!samples.length) return '<p class="muted">no samples stored</p>';
  return (
    '<p class="muted">The part that carries the loss is <mark class="loss">highlighted</mark>.</p>' +
    samples
      .map(
        (s) =>
          `<figure class="sample"><figcaption>${esc(s.label)}</figcaption><pre>${s.parts.map((p) => (p.loss ? `<mark class="loss">${esc(p.text)}</mark>` : esc(p.text))).join('')}</pre></figure>`,
      )
      .join('')
  );
}

function removedText(removed: Record<string, number>): string {
  const nonZero = Object.entries(removed).filter(([, n]) => n > 0);
  return nonZero.length ? nonZero.map(([why, n]) => `${esc(why)}: <b>${n}</b>`).join(', ') : '<span class="muted">none</span>';
}

/** Sizes, steps, PII and lengths (without samples): also shown inside the adapter that trained on it. */
export function datasetStatsHtml(d: DatasetView): string {
  const out: string[] = [];
  if (d.sources.length)
    out.push(
      `<table class="data"><thead><tr><th>source file</th><th class="num">records</th><th class="num">bytes</th></tr></thead><tbody>${d.sources
        .map((s) => `<tr><td>${esc(s.file)}</td><td class="num">${s.records}</td><td class="num">${s.bytes}</td></tr>`)
        .join('')}</tbody></table>`,
    );
  if (d.steps.length)
    out.push(
      `<table class="data" data-table="dataset-steps"><thead><tr><th>step</th><th class="num">in</th><th class="num">out</th><th>removed</th></tr></thead><tbody>${d.steps
        .map((s) => `<tr><td>${esc(s.step)}</td><td class="num">${s.in}</td><td class="num">${s.out}</td><td>${removedText(s.removed ?? {})}</td></tr>`)
        .join('')}</tbody></table>`,
    );
  if (d.pii) {
    const types = Object.entries(d.pii.byType ?? {});
    out.push(
      `<p>PII (${esc(d.pii.mode)}): ${types.length ? `${types.map(([t, n]) => `${esc(t)} <b>${n}</b>`).join(', ')} in ${d.pii.records} record(s)` : 'none found'}</p>`,
    );
  }
  const splits = Object.entries(d.lengths);
  if (splits.length) {
    out.push(
      `<table class="data"><thead><tr><th>split</th><th class="num">examples</th><th class="num">tokens</th><th class="num">with loss</th><th class="num">min</th><th class="num">p50</th><th class="num">p95</th><th class="num">max</th><th class="num">mean</th></tr></thead><tbody>${splits
        .map(
          ([split, l]) =>
            `<tr><td>${esc(split)}</td><td class="num">${l.count}</td><td class="num">${l.tokens}</td><td class="num">${fmt(l.lossTokens)}</td><td class="num">${l.min}</td><td class="num">${l.p50}</td><td class="num">${l.p95}</td><td class="num">${l.max}</td><td class="num">${fmt(l.mean)}</td></tr>`,
        )
        .join('')}</tbody></table>`,
    );
    const buckets = splits[0][1].histogram?.map((h) => `≤${h.upTo}`) ?? [];
    if (buckets.length)
      out.push(
        barChart({
          id: `${d.stage}/lengths`,
          title: 'token length of examples',
          buckets,
          xLabel: 'tokens per example',
          yLabel: 'examples',
          series: splits.map(([split, l]) => ({
            label: split,
            color: SPLIT_COLORS[split] ?? '#57606a',
            values: buckets.map((_, i) => l.histogram[i]?.count ?? 0),
          })),
        }),
      );
  }
  return out.join('\n');
}

export function datasetSection(d: DatasetView, anchorId: string): string {
  return `<section class="stage" id="${esc(anchorId)}" data-stage="${esc(d.stage)}">
<h2>${esc(d.stage)} <span class="badge">v${d.version}</span> <span class="muted">${esc(d.format)} · ${esc(d.key.slice(0, 12))}</span></h2>
${datasetStatsHtml(d)}
<h3>Samples</h3>
${samplesHtml(d.samples)}
</section>`;
}
