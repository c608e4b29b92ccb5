// The planner on its own: each stage's key and its action (built / fresh / restored / failed / skipped) with the
// reasons, against a store the test commits to directly (no executor): first plan, no-op, an input edited and
// reverted, a config or engine-version change, a missing input, a missing workspace output, targets.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPipelineText } from '../../../src/config/load.ts';
import type { Pipeline } from '../../../src/config/types.ts';
import { captureOutputs } from '../../../src/exec/workspace-outputs.ts';
import { HashCache } from '../../../src/hash/hash-cache.ts';
import { hashOutputs } from '../../../src/hash/inputs.ts';
import { keyOf, planBuild, type PlannedStage } from '../../../src/plan/plan.ts';
import type { StageManifest } from '../../../src/stage.ts';
import { StoreLayout } from '../../../src/store/layout.ts';
import { commitObject, hasObject, makeTempDir } from '../../../src/store/objects.ts';
import { recordVersion } from '../../../src/store/refs.ts';
import { probeToolchain } from '../../helpers/probe-kind.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

let dir: string;

const toolchain = probeToolchain();

function project(stages: Record<string, unknown>, files: Record<string, string> = {}): Pipeline {
  dir = tempDir('peftmake-plan-');
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
  return reload(stages);
}

function reload(stages: Record<string, unknown>): Pipeline {
  return loadPipelineText(JSON.stringify({ stages }), join(dir, 'pipeline.json'), { cwd: dir, kinds: toolchain.kinds });
}

async function plan(p: Pipeline, opts: { engineVersion?: string; targets?: string[] } = {}): Promise<Record<string, PlannedStage>> {
  const planned = await planBuild(p, new StoreLayout(dir), new HashCache(), {
    engineVersion: opts.engineVersion ?? toolchain.engineVersion,
    targets: opts.targets,
  });
  return Object.fromEntries(planned.map((s) => [s.name.replace(/^stages\./, ''), s]));
}

/** What the executor records after a stage ran: the object with its manifest, and the ref's new version. */
async function commit(p: Pipeline, planned: Record<string, PlannedStage>): Promise<void> {
  const layout = new StoreLayout(dir);
  for (const s of Object.values(planned)) {
    if (s.action === 'fresh' || s.action === 'failed' || s.action === 'skipped') continue;
    if (!hasObject(layout, s.key)) {
      const out = makeTempDir(layout, s.name);
      captureOutputs(s.entry, p.projectDir, out); // as the executor commits: the workspace outputs travel in outs/
      const manifest: StageManifest = {
        name: s.name,
        kind: s.kind,
        implVersion: s.entry.kind.implVersion,
        key: s.key,
        config: s.material.config,
        inputs: s.inputs,
        upstream: s.material.upstream,
        resolved: s.material.resolved,
        params: s.material.params,
        engineVersion: s.material.engineVersion,
        metrics: {},
        createdAt: new Date().toISOString(),
        seconds: 0,
        outputs: await hashOutputs(s.entry, p.projectDir, new HashCache()),
      };
      writeFileSync(join(out, 'manifest.json'), JSON.stringify(manifest));
      commitObject(layout, out, s.key);
    }
    recordVersion(layout, s.name, s.key, { action: s.action, reasons: s.reasons, metrics: {}, seconds: 0 });
  }
}

const CHAIN = { a: { files: ['a.txt'] }, b: { after: ['a'], files: ['b.txt'] }, c: { after: ['b'] } };
const FILES = { 'a.txt': 'one\n', 'b.txt': 'bee\n' };
const actionsOf = (r: Record<string, PlannedStage>): Record<string, string> => Object.fromEntries(Object.entries(r).map(([n, s]) => [n, s.action]));

describe('planBuild', () => {
  it('plans every stage of a new project as built (no-record), version 1, with keys made of its material', async () => {
    const p = project(CHAIN, FILES);
    const r = await plan(p);
    expect(actionsOf(r)).toEqual({ a: 'built', b: 'built', c: 'built' });
    for (const s of Object.values(r)) {
      expect(s.reasons).toEqual([{ type: 'no-record' }]);
      expect(s.version).toBe(1);
      expect(s.key).toBe(keyOf(s.material));
      expect(s.material.engineVersion).toBe('test-1');
    }
    expect(r.b.material.upstream).toEqual({ 'stages.a': r.a.key });
    expect(r.c.material.upstream).toEqual({ 'stages.b': r.b.key });
    expect(r.a.inputs.map((i) => i.path)).toEqual(['a.txt']);
    expect((await plan(p)).c.key).toBe(r.c.key); // planning writes nothing and is deterministic
  });

  it('after a commit everything is fresh, with no reasons', async () => {
    const p = project(CHAIN, FILES);
    await commit(p, await plan(p));
    const r = await plan(p);
    expect(actionsOf(r)).toEqual({ a: 'fresh', b: 'fresh', c: 'fresh' });
    expect(Object.values(r).flatMap((s) => s.reasons)).toEqual([]);
    expect(Object.values(r).map((s) => s.version)).toEqual([1, 1, 1]);
  });

  it('an edited input rebuilds its stage and what depends on it (dep-modified, upstream-changed); reverting it restores version 1', async () => {
    const p = project(CHAIN, FILES);
    const first = await plan(p);
    await commit(p, first);
    writeFileSync(join(dir, 'b.txt'), 'bumble\n');
    const edited = await plan(p);
    expect(actionsOf(edited)).toEqual({ a: 'fresh', b: 'built', c: 'built' });
    expect(edited.b.reasons).toEqual([{ type: 'dep-modified', path: 'b.txt' }]);
    expect(edited.c.reasons).toEqual([{ type: 'upstream-changed', stage: 'stages.b' }]);
    expect([edited.b.version, edited.c.version]).toEqual([2, 2]);
    await commit(p, edited);
    writeFileSync(join(dir, 'b.txt'), 'bee\n');
    const reverted = await plan(p);
    expect(actionsOf(reverted)).toEqual({ a: 'fresh', b: 'restored', c: 'restored' });
    expect([reverted.b.key, reverted.c.key]).toEqual([first.b.key, first.c.key]);
    expect([reverted.b.version, reverted.c.version]).toEqual([1, 1]);
    expect(reverted.b.reasons).toEqual([{ type: 'dep-modified', path: 'b.txt' }]);
  });

  it('a config change is a param-changed reason; an added input file a dep-added one', async () => {
    const p = project(CHAIN, FILES);
    await commit(p, await plan(p));
    writeFileSync(join(dir, 'extra.txt'), 'x');
    const r = await plan(reload({ ...CHAIN, a: { files: ['a.txt', 'extra.txt'], value: 3 } }));
    expect(actionsOf(r)).toEqual({ a: 'built', b: 'built', c: 'built' });
    expect(r.a.reasons).toEqual(
      expect.arrayContaining([
        { type: 'param-changed', key: 'files', old: ['a.txt'], new: ['a.txt', 'extra.txt'] },
        { type: 'param-changed', key: 'value', old: 0, new: 3 },
        { type: 'dep-added', path: 'extra.txt' },
      ]),
    );
    expect(r.b.reasons).toEqual([{ type: 'upstream-changed', stage: 'stages.a' }]);
  });

  it('the engine version handed in joins every key: a new one rebuilds everything (engine-changed)', async () => {
    const p = project(CHAIN, FILES);
    await commit(p, await plan(p));
    const r = await plan(p, { engineVersion: 'test-2' });
    expect(actionsOf(r)).toEqual({ a: 'built', b: 'built', c: 'built' });
    expect(r.a.reasons).toEqual([{ type: 'engine-changed', old: 'test-1', new: 'test-2' }]);
  });

  it('a missing input fails its stage at planning and skips its dependents; independent stages are still planned', async () => {
    const p = project({ ...CHAIN, d: {} }, { 'b.txt': 'bee\n' });
    const r = await plan(p);
    expect(actionsOf(r)).toEqual({ a: 'failed', b: 'skipped', c: 'skipped', d: 'built' });
    expect(r.a.error).toMatch(/a\.txt/);
    expect(r.b.error).toBe('upstream stages.a failed');
    expect(r.c.error).toBe('upstream stages.b skipped');
  });

  it('a deleted workspace output makes a current stage restored (output-missing), not rebuilt', async () => {
    const p = project({ a: { files: ['a.txt'], outs: ['out.txt'] } }, FILES);
    writeFileSync(join(dir, 'out.txt'), 'stages.a 0\n');
    await commit(p, await plan(p));
    expect((await plan(p)).a.action).toBe('fresh');
    rmSync(join(dir, 'out.txt'));
    const r = await plan(p);
    expect(r.a.action).toBe('restored');
    expect(r.a.reasons).toEqual([{ type: 'output-missing', path: 'out.txt' }]);
  });

  it('targets plan only their upstream closure', async () => {
    const p = project({ ...CHAIN, d: {} }, FILES);
    expect(Object.keys(await plan(p, { targets: ['stages.b'] }))).toEqual(['a', 'b']);
    expect(Object.keys(await plan(p, { targets: ['d'] }))).toEqual(['d']);
    await expect(plan(p, { targets: ['stages.bb'] })).rejects.toThrow(/no stage "stages\.bb" .*did you mean "stages\.b"/);
  });
});
