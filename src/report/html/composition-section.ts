// The HTML of a composition: its stack with weights and adapter versions, every version, and the event log
// (builds, restores, rollbacks by hand or by an eval gate, unpins), the pin and why it is there.
import type { CompositionSection } from '../model.ts';
import { anchor, esc } from './escape.ts';

const stackText = (adapters: CompositionSection['adapters']) =>
  adapters
    .map((a) => `<a href="#${esc(anchor(`adapters.${a.name}`))}">${esc(a.name)}</a> ${a.version ? `v${a.version}` : esc(a.key.slice(0, 12))} ×${a.weight}`)
    .join(' + ');

export function compositionSection(c: CompositionSection): string {
  const head = `<h2>${esc(c.stage)} ${c.current ? `<span class="badge">v${c.current}</span>` : ''}${c.pinned ? ' <span class="badge pin" data-pinned="yes">pinned</span>' : ''}</h2>`;
  if (c.error)
    return `<section class="stage" id="${esc(anchor(c.stage))}" data-stage="${esc(c.stage)}">${head}<p class="bad" data-error>${esc(c.error)}</p></section>`;
  if (!c.versions.length)
    return `<section class="stage" id="${esc(anchor(c.stage))}" data-stage="${esc(c.stage)}">${head}<p class="muted">not built yet: run \`peftmake build\`</p></section>`;
  const pin = c.pinned
    ? `<p class="pin-reason" data-pin-reason>Pinned at v${c.current}: ${esc(c.pinReason ?? 'rolled back')}. \`peftmake unpin ${esc(c.stage)}\` releases it.</p>`
    : '';
  return `<section class="stage" id="${esc(anchor(c.stage))}" data-stage="${esc(c.stage)}">
${head}
${pin}
<table class="data" data-table="stack"><thead><tr><th>base</th><th>method</th><th>adapter</th><th>version</th><th class="num">weight</th><th>key</th></tr></thead><tbody>${c.adapters
    .map(
      (a, i) =>
        `<tr><td>${i === 0 ? esc(c.base ?? '') : ''}</td><td>${i === 0 ? esc(c.method ?? '') : ''}</td><td><a href="#${esc(anchor(`adapters.${a.name}`))}">${esc(a.name)}</a></td><td>${a.version ? `v${a.version}` : '?'}</td><td class="num">${a.weight}</td><td class="key">${esc(a.key.slice(0, 12))}</td></tr>`,
    )
    .join('')}</tbody></table>
<h3>Versions</h3>
<table class="data" data-table="versions"><thead><tr><th>version</th><th>created</th><th>stack</th></tr></thead><tbody>${[...c.versions]
    .reverse()
    .map(
      (v) =>
        `<tr data-version="${v.version}"${v.current ? ' class="current"' : ''}><td>v${v.version}${v.current ? ` <b>current</b>${c.pinned ? ' <span class="badge pin">pinned</span>' : ''}` : ''}</td><td>${esc(v.createdAt.replace('T', ' ').slice(0, 19))}</td><td>${v.adapters ? `${esc(v.method ?? '')}: ${stackText(v.adapters)}` : '<span class="muted">collected by gc</span>'}</td></tr>`,
    )
    .join('')}</tbody></table>
<h3>Events</h3>
<table class="data" data-table="events"><thead><tr><th>at</th><th>event</th><th>version</th><th>why</th></tr></thead><tbody>${[...c.events]
    .reverse()
    .map(
      (e) =>
        `<tr class="event-${esc(e.event)}" data-event="${esc(e.event)}"><td>${esc(e.at.replace('T', ' ').slice(0, 19))}</td><td>${esc(e.event)}</td><td>v${e.version}</td><td>${esc(e.note ?? '')}</td></tr>`,
    )
    .join('')}</tbody></table>
</section>`;
}
