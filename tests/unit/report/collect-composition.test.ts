// A composition's pin and why, from a hand-made store: a rollback right after an eval whose gate kept that version
// is the gate's; any other rollback is by hand; the stack and adapter versions come from composition.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { collectComposition } from '../../../src/report/collect-composition.ts';
import { StoreLayout } from '../../../src/store/layout.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

const k = (c: string) => c.repeat(64);

function store(rollbackAt: string): StoreLayout {
  const layout = new StoreLayout(tempDir('peftmake-report-comp-'));
  const put = (key: string, files: Record<string, unknown>) => {
    mkdirSync(layout.object(key), { recursive: true });
    for (const [f, v] of Object.entries({ 'manifest.json': { key }, ...files })) writeFileSync(join(layout.object(key), f), JSON.stringify(v));
  };
  const version = (n: number, key: string, at: string) => ({ version: n, key, createdAt: at, action: 'built', reasons: [], metrics: {}, seconds: 0 });
  mkdirSync(layout.refs, { recursive: true });
  const comp = (task: string) => ({
    method: 'stack',
    base: { name: 'base' },
    adapters: [
      { name: 'domain', key: k('d'), version: 1, weight: 1 },
      { name: 'task', key: task, weight: 0.5 },
    ],
  });
  put(k('1'), { 'composition.json': comp(k('t')) });
  put(k('2'), { 'composition.json': comp(k('u')) });
  put(k('e'), {
    'metrics.json': {
      rows: [],
      gate: {
        passed: false,
        keep: { 'compositions.c': k('1') },
        messages: ['gate: compositions.c v2: qa perplexity 9 is 50% above the previous 6 (allowed +2.0%); keeping the previous version current'],
      },
    },
  });
  writeFileSync(
    layout.ref('adapters.task'),
    JSON.stringify({
      stage: 'adapters.task',
      current: 2,
      pinned: false,
      versions: [version(1, k('t'), '2026-01-01T00:00:00Z'), version(2, k('u'), '2026-01-01T00:01:00Z')],
      events: [],
    }),
  );
  writeFileSync(
    layout.ref('evals.e'),
    JSON.stringify({ stage: 'evals.e', current: 1, pinned: false, versions: [version(1, k('e'), '2026-01-01T00:02:00Z')], events: [] }),
  );
  writeFileSync(
    layout.ref('compositions.c'),
    JSON.stringify({
      stage: 'compositions.c',
      current: 1,
      pinned: true,
      versions: [version(1, k('1'), '2026-01-01T00:00:30Z'), version(2, k('2'), '2026-01-01T00:01:30Z')],
      events: [
        { at: '2026-01-01T00:00:30Z', event: 'built', version: 1 },
        { at: '2026-01-01T00:01:30Z', event: 'built', version: 2 },
        { at: rollbackAt, event: 'rollback', version: 1 },
      ],
    }),
  );
  return layout;
}

describe('collectComposition', () => {
  it('a rollback just after an eval whose gate kept that version is the gate’s', () => {
    const c = collectComposition(store('2026-01-01T00:02:01Z'), 'compositions.c');
    expect(c.pinned).toBe(true);
    expect(c.current).toBe(1);
    expect(c.pinReason).toBe(
      'kept by the gate of evals.e v1: compositions.c v2: qa perplexity 9 is 50% above the previous 6 (allowed +2.0%); keeping the previous version current',
    );
    expect(c.adapters).toEqual([
      { name: 'domain', key: k('d'), version: 1, weight: 1 },
      { name: 'task', key: k('t'), version: 1, weight: 0.5 },
    ]);
    expect(c.versions.map((v) => [v.version, v.current, v.adapters?.[1].version])).toEqual([
      [1, true, 1],
      [2, false, 2],
    ]);
  });

  it('a rollback with no gate behind it is by hand', () => {
    const c = collectComposition(store('2026-01-01T00:01:59Z'), 'compositions.c'); // before the eval ran
    expect(c.pinReason).toBe('rolled back by hand (`peftmake rollback`)');
    expect(c.events.map((e) => e.event)).toEqual(['built', 'built', 'rollback']);
  });
});
