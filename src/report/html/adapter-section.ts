// The HTML of an adapter: loss (train and validation) against step and against tokens, learning rate and tokens/s,
// the current version drawn over the earlier ones still in the store, their config changes, and its dataset.
import type { AdapterSection, AdapterVersion } from '../model.ts';
import { lineChart, type Series } from '../svg/line-chart.ts';
import { versionColor } from './colors.ts';
import { datasetStatsHtml, samplesHtml } from './dataset-section.ts';
import { anchor, esc, fmt } from './escape.ts';

/** Series for one curve across the shown versions: the current one (thicker) drawn last, on top of the earlier ones. */
function curves(a: AdapterSection, pick: (v: AdapterVersion, color: string, i: number) => Series[]): Series[] {
  return a.versions.flatMap((v, i) => pick(v, versionColor(i), i)).reverse();
}

const tag = (v: AdapterVersion) => `v${v.version}${v.current ? ' (current)' : ''}`;

const BUILDING = '#cf222e';

/** The run under way as chart series (drawn over the versions): training loss, validation loss, lr, tokens/s. */
function buildingSeries(a: AdapterSection): Record<'lossStep' | 'lossTokens' | 'lr' | 'tps', Series[]> {
  const r = a.inProgress;
  if (!r) return { lossStep: [], lossTokens: [], lr: [], tps: [] };
  const label = `building (step ${r.train[r.train.length - 1]?.step ?? 0}${r.maxSteps ? ` of ${r.maxSteps}` : ''})`;
  const data = (curve: string) => ({ version: 'building', curve, current: 'no' });
  const line = (curve: string, points: { x: number; y: number }[]): Series => ({ label, color: BUILDING, width: 2, radius: 1.6, data: data(curve), points });
  const valid = (points: { x: number; y: number }[]): Series => ({
    label: 'valid (building)',
    color: BUILDING,
    dashed: true,
    radius: 3.5,
    data: data('valid'),
    points,
  });
  return {
    lossStep: [
      line(
        'train',
        r.train.map((p) => ({ x: p.step, y: p.loss })),
      ),
      valid(r.valid.map((p) => ({ x: p.step, y: p.loss }))),
    ],
    lossTokens: [
      line(
        'train',
        r.train.map((p) => ({ x: p.tokens, y: p.loss })),
      ),
      valid(r.valid.filter((p) => p.tokens !== null).map((p) => ({ x: p.tokens!, y: p.loss }))),
    ],
    lr: [
      line(
        'lr',
        r.train.map((p) => ({ x: p.step, y: p.lr })),
      ),
    ],
    tps: [
      line(
        'tokens-per-s',
        r.train.map((p) => ({ x: p.step, y: p.tokensPerS })),
      ),
    ],
  };
}

export function adapterCharts(a: AdapterSection): string {
  const meta = (v: AdapterVersion, curve: string) => ({ version: v.version, curve, current: v.current ? 'yes' : 'no' });
  const b = buildingSeries(a);
  const lossStep = curves(a, (v, color, i) => [
    {
      label: `train ${tag(v)}`,
      color,
      width: i === 0 ? 2 : 1.2,
      radius: i === 0 ? 1.6 : 1,
      data: meta(v, 'train'),
      points: v.train.map((p) => ({ x: p.step, y: p.loss, title: `v${v.version} step ${p.step}: train loss ${p.loss}` })),
    },
    {
      label: `valid v${v.version}`,
      color,
      dashed: true,
      radius: 3.5,
      data: meta(v, 'valid'),
      points: v.valid.map((p) => ({ x: p.step, y: p.loss, title: `v${v.version} step ${p.step}: valid loss ${p.loss}` })),
    },
  ]);
  const lossTokens = curves(a, (v, color, i) => [
    {
      label: `train ${tag(v)}`,
      color,
      width: i === 0 ? 2 : 1.2,
      radius: i === 0 ? 1.6 : 1,
      data: meta(v, 'train'),
      points: v.train.map((p) => ({ x: p.tokens, y: p.loss, title: `v${v.version} ${p.tokens} tokens: train loss ${p.loss}` })),
    },
    {
      label: `valid v${v.version}`,
      color,
      dashed: true,
      radius: 3.5,
      data: meta(v, 'valid'),
      points: v.valid
        .filter((p) => p.tokens !== null)
        .map((p) => ({ x: p.tokens!, y: p.loss, title: `v${v.version} ${p.tokens} tokens: valid loss ${p.loss}` })),
    },
  ]);
  const lr = curves(a, (v, color, i) => [
    { label: tag(v), color, width: i === 0 ? 2 : 1.2, radius: 0.8, data: meta(v, 'lr'), points: v.train.map((p) => ({ x: p.step, y: p.lr })) },
  ]);
  const tps = curves(a, (v, color, i) => [
    {
      label: tag(v),
      color,
      width: i === 0 ? 2 : 1.2,
      radius: 0.8,
      data: meta(v, 'tokens-per-s'),
      points: v.train.map((p) => ({ x: p.step, y: p.tokensPerS })),
    },
  ]);
  const id = (c: string) => `${a.stage}/${c}`;
  return `<div class="charts">
${lineChart({ id: id('loss-step'), title: 'loss against step', xLabel: 'step', yLabel: 'loss', series: [...lossStep, ...b.lossStep], width: 560 })}
${lineChart({ id: id('loss-tokens'), title: 'loss against tokens seen', xLabel: 'tokens', yLabel: 'loss', series: [...lossTokens, ...b.lossTokens], width: 560 })}
${lineChart({ id: id('lr'), title: 'learning rate', xLabel: 'step', yLabel: 'lr', series: [...lr, ...b.lr], width: 560, height: 200 })}
${lineChart({ id: id('tokens-per-s'), title: 'training speed', xLabel: 'step', yLabel: 'tokens/s', series: [...tps, ...b.tps], width: 560, height: 200 })}
</div>`;
}

const SHOWN_METRICS = ['train_loss', 'valid_loss', 'perplexity', 'steps', 'tokens_seen', 'seconds', 'compute'];

export function versionsTable(a: AdapterSection): string {
  return `<table class="data" data-table="versions"><thead><tr><th>version</th><th>created</th><th>action</th><th>why</th>${SHOWN_METRICS.map((m) => `<th class="num">${esc(m)}</th>`).join('')}</tr></thead><tbody>${a.versions
    .map(
      (v, i) =>
        `<tr data-version="${v.version}"${v.current ? ' class="current"' : ''}><td><span class="swatch" style="background:${versionColor(i)}"></span>v${v.version}${v.current ? ` <b>current</b>${a.pinned ? ' <span class="badge pin">pinned</span>' : ''}` : ''}</td><td>${esc(v.createdAt.replace('T', ' ').slice(0, 19))}</td><td>${esc(v.action)}</td><td>${esc(v.reasons.join('; '))}</td>${SHOWN_METRICS.map((m) => `<td class="num">${esc(fmt(v.metrics[m]))}</td>`).join('')}</tr>`,
    )
    .join('')}</tbody></table>`;
}

export function configDiffHtml(diffs: AdapterSection['configDiffs']): string {
  return diffs
    .map(
      (d) =>
        `<h4>config v${d.from} → v${d.to}</h4>${
          d.changes.length
            ? `<table class="data" data-table="config-diff" data-from="${d.from}" data-to="${d.to}"><thead><tr><th>key</th><th>v${d.from}</th><th>v${d.to}</th></tr></thead><tbody>${d.changes
                .map(
                  (c) => `<tr><td>${esc(c.key)}</td><td class="old">${esc(JSON.stringify(c.old))}</td><td class="new">${esc(JSON.stringify(c.new))}</td></tr>`,
                )
                .join('')}</tbody></table>`
            : '<p class="muted">same config and upstream (the inputs or the engine changed)</p>'
        }`,
    )
    .join('');
}

export function adapterSection(a: AdapterSection): string {
  const head = `<h2>${esc(a.stage)} ${a.current ? `<span class="badge">v${a.current}</span>` : ''}${a.pinned ? ' <span class="badge pin" data-pinned="yes">pinned</span>' : ''}</h2>`;
  const running = a.inProgress
    ? `<p class="building" data-building="${esc(a.inProgress.key)}">${a.inProgress.buildRunning ? 'Training a new version' : 'An interrupted training (the next build resumes it from its last checkpoint)'} (${esc(a.inProgress.key.slice(0, 12))}): step ${a.inProgress.train[a.inProgress.train.length - 1]?.step ?? 0}${a.inProgress.maxSteps ? ` of ${a.inProgress.maxSteps}` : ''}, log written ${esc(a.inProgress.updatedAt.replace('T', ' ').slice(0, 19))} UTC (drawn in red; it is written at every checkpoint).</p>`
    : '';
  if (!a.versions.length && a.inProgress)
    return `<section class="stage" id="${esc(anchor(a.stage))}" data-stage="${esc(a.stage)}">${head}${running}${adapterCharts(a)}</section>`;
  if (a.error)
    return `<section class="stage" id="${esc(anchor(a.stage))}" data-stage="${esc(a.stage)}">${head}<p class="bad" data-error>${esc(a.error)}</p></section>`;
  if (!a.versions.length)
    return `<section class="stage" id="${esc(anchor(a.stage))}" data-stage="${esc(a.stage)}">${head}<p class="muted">${a.current ? 'the artifacts of its versions were removed by gc' : 'not built yet: run `peftmake build`'}</p></section>`;
  const cur = a.versions[0];
  const ds = cur.dataset;
  const overlaid =
    a.versions.length > 1
      ? `earlier versions overlaid: ${a.versions
          .slice(1)
          .map((v) => `v${v.version}`)
          .join(', ')}`
      : 'no earlier version in the store';
  return `<section class="stage" id="${esc(anchor(a.stage))}" data-stage="${esc(a.stage)}">
${head}
${running}
<p>${esc(overlaid)}${a.collected.length ? `; collected by gc: ${a.collected.map((n) => `v${n}`).join(', ')}` : ''}${ds ? `. Trained on <a href="#${esc(anchor(ds.stage))}">${esc(ds.stage)}</a>${ds.version ? ` v${ds.version}` : ''} (${esc(ds.key.slice(0, 12))}).` : ''}</p>
${adapterCharts(a)}
<h3>Versions</h3>
${versionsTable(a)}
${configDiffHtml(a.configDiffs)}
${
  a.dataset
    ? `<details class="dataset"><summary>The dataset it trained on: ${esc(a.dataset.stage)} v${a.dataset.version}</summary>${datasetStatsHtml(a.dataset)}${samplesHtml(a.dataset.samples)}</details>`
    : ''
}
</section>`;
}
