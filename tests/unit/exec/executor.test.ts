// The executor on its own: a plan (from the planner) run in dependency order, `jobs` at a time, one heavy stage at a
// time; a failure skips its dependents and stops the build, or with keepGoing lets independent stages finish.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPipelineText } from '../../../src/config/load.ts';
import { executePlan } from '../../../src/exec/executor.ts';
import { silentReporter, type BuildReport } from '../../../src/exec/reporter.ts';
import { HashCache } from '../../../src/hash/hash-cache.ts';
import { planBuild } from '../../../src/plan/plan.ts';
import { StoreLayout } from '../../../src/store/layout.ts';
import { probeToolchain, type ProbeEvent } from '../../helpers/probe-kind.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

async function run(
  stages: Record<string, unknown>,
  opts: { jobs?: number; keepGoing?: boolean; files?: Record<string, string> } = {},
): Promise<{ report: BuildReport; events: ProbeEvent[] }> {
  const dir = tempDir('peftmake-exec-');
  for (const [f, text] of Object.entries(opts.files ?? {})) writeFileSync(join(dir, f), text);
  const events: ProbeEvent[] = [];
  const toolchain = probeToolchain(events);
  const pipeline = loadPipelineText(JSON.stringify({ stages }), join(dir, 'pipeline.json'), { cwd: dir, kinds: toolchain.kinds });
  const layout = new StoreLayout(dir);
  const cache = new HashCache();
  const plan = await planBuild(pipeline, layout, cache, { engineVersion: toolchain.engineVersion });
  const report = await executePlan(
    plan,
    { pipeline, layout, cache, signal: new AbortController().signal, json: true, reporter: silentReporter },
    { jobs: opts.jobs ?? 1, keepGoing: opts.keepGoing ?? false },
  );
  return { report, events };
}

const actionsOf = (r: BuildReport): Record<string, string> => Object.fromEntries(r.stages.map((s) => [s.name.replace(/^stages\./, ''), s.action]));
const errorOf = (r: BuildReport, n: string): string | undefined => r.stages.find((s) => s.name === `stages.${n}`)?.error;
const at = (ev: ProbeEvent[], n: string, e: 'start' | 'end'): number => ev.find((x) => x.name === `stages.${n}` && x.event === e)!.at;

/** The most stages running at once, from start / end events. */
function maxConcurrent(ev: ProbeEvent[], only?: (name: string) => boolean): number {
  let now = 0;
  let most = 0;
  for (const e of [...ev].filter((x) => !only || only(x.name)).sort((a, b) => a.at - b.at || (a.event === 'end' ? -1 : 1))) {
    now += e.event === 'start' ? 1 : -1;
    most = Math.max(most, now);
  }
  return most;
}

// a -> b -> c, and d, e independent of them
const DIAMOND = { a: { ms: 30 }, b: { after: ['a'] }, c: { after: ['b'] }, d: { ms: 30 }, e: { ms: 30 } };

describe('executePlan', () => {
  it('runs each stage once, after its upstream stages ended', async () => {
    const { report, events } = await run(DIAMOND, { jobs: 2 });
    expect(report.ok).toBe(true);
    expect(actionsOf(report)).toEqual({ a: 'built', b: 'built', c: 'built', d: 'built', e: 'built' });
    expect(
      events
        .filter((e) => e.event === 'start')
        .map((e) => e.name)
        .sort(),
    ).toEqual(['a', 'b', 'c', 'd', 'e'].map((n) => `stages.${n}`));
    expect(at(events, 'b', 'start')).toBeGreaterThanOrEqual(at(events, 'a', 'end'));
    expect(at(events, 'c', 'start')).toBeGreaterThanOrEqual(at(events, 'b', 'end'));
    expect(report.stages.map((s) => s.version)).toEqual([1, 1, 1, 1, 1]);
  });

  it('runs up to `jobs` stages at once, and one at a time with jobs 1', async () => {
    expect(maxConcurrent((await run(DIAMOND, { jobs: 1 })).events)).toBe(1);
    expect(maxConcurrent((await run(DIAMOND, { jobs: 2 })).events)).toBe(2);
    expect(maxConcurrent((await run(DIAMOND, { jobs: 8 })).events)).toBe(3); // a, d, e: b and c wait for a
  });

  it('never runs two heavy stages at once, whatever `jobs` says', async () => {
    const { report, events } = await run({ h1: { heavy: true, ms: 30 }, h2: { heavy: true, ms: 30 }, l1: { ms: 30 } }, { jobs: 3 });
    expect(report.ok).toBe(true);
    expect(maxConcurrent(events, (n) => n !== 'stages.l1')).toBe(1);
    expect(maxConcurrent(events)).toBe(2); // the light stage runs beside a heavy one
  });

  it('a failure skips its dependents and, without keepGoing, stops the build', async () => {
    const { report, events } = await run({ ...DIAMOND, a: { fail: true } }, { jobs: 1 });
    expect(report.ok).toBe(false);
    expect(actionsOf(report)).toEqual({ a: 'failed', b: 'skipped', c: 'skipped', d: 'skipped', e: 'skipped' });
    expect(errorOf(report, 'a')).toBe('stages.a: failed on request');
    expect(errorOf(report, 'b')).toBe('upstream stages.a failed');
    expect(errorOf(report, 'c')).toBe('upstream stages.b skipped');
    expect(errorOf(report, 'd')).toBe('build stopped after a failure');
    expect(events.filter((e) => e.event === 'start').map((e) => e.name)).toEqual(['stages.a']);
  });

  it('with keepGoing, stages that do not depend on the failure are built', async () => {
    const { report } = await run({ ...DIAMOND, a: { fail: true } }, { jobs: 1, keepGoing: true });
    expect(report.ok).toBe(false);
    expect(actionsOf(report)).toEqual({ a: 'failed', b: 'skipped', c: 'skipped', d: 'built', e: 'built' });
  });

  it('a stage that failed at planning (a missing input) is reported failed and its dependents skipped', async () => {
    const { report, events } = await run({ a: { files: ['missing.txt'] }, b: { after: ['a'] }, d: {} }, { keepGoing: true });
    expect(actionsOf(report)).toEqual({ a: 'failed', b: 'skipped', d: 'built' });
    expect(errorOf(report, 'a')).toMatch(/missing\.txt/);
    expect(events.map((e) => e.name)).not.toContain('stages.a');
  });
});
