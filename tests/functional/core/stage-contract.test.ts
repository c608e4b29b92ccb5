// The RunContext a stage kind gets: upstream artifacts, outDir committed with a manifest, `previous` when the key
// changed, a resumeDir that survives a failed run of the same key and is removed on commit; progress and logs
// reach the reporter; kinds that cannot build yet fail with E_NOT_IMPLEMENTED.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TempProject, actions, stage } from '../../helpers/project.ts';
import { TOOLCHAIN } from '../../helpers/toolchain.ts';
import type { RunContext, StageKind, StageProgress } from '../../../src/stage.ts';
import { PeftError } from '../../../src/errors.ts';
import { StoreLayout } from '../../../src/store/layout.ts';
import type { Reporter } from '../../../src/exec/reporter.ts';

let p: TempProject;
afterEach(() => p?.cleanup());

interface ProbeConfig {
  value: number;
  failOnce: boolean;
}
const seen: { name: string; previous?: number; resumed: boolean; upstream: string[] }[] = [];

const probeSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { value: { type: 'integer', default: 0 }, failOnce: { type: 'boolean', default: false }, description: { type: 'string' } },
};

const producer: StageKind<ProbeConfig> = {
  section: 'models',
  kind: 'probe-producer',
  implVersion: '1',
  schema: probeSchema,
  deps: () => ({ upstream: [], files: [] }),
  async run(ctx: RunContext<ProbeConfig>) {
    const resumed = existsSync(join(ctx.resumeDir, 'checkpoint'));
    seen.push({ name: ctx.name, previous: ctx.previous?.version, resumed, upstream: Object.keys(ctx.upstream) });
    ctx.progress({ step: 1, total: 2, unit: 'step', metrics: { loss: 1.5 } });
    if (ctx.config.failOnce && !resumed) {
      writeFileSync(join(ctx.resumeDir, 'checkpoint'), 'step 1');
      throw new Error('interrupted after step 1');
    }
    ctx.log(`value ${ctx.config.value}`);
    writeFileSync(join(ctx.outDir, 'value.txt'), String(ctx.config.value * 10));
    return { metrics: { value: ctx.config.value }, summary: 'probe done' };
  },
};

const consumer: StageKind<{ from: string }> = {
  section: 'datasets',
  kind: 'probe-consumer',
  implVersion: '1',
  schema: { type: 'object', required: ['from'], properties: { from: { type: 'string' } }, additionalProperties: false },
  references: (_n, c) => [{ pointer: '/from', target: `models.${c.from}` }],
  deps: (_n, c) => ({ upstream: [`models.${c.from}`], files: [] }),
  async run(ctx) {
    const up = ctx.upstream[`models.${ctx.config.from}`];
    seen.push({ name: ctx.name, resumed: false, upstream: Object.keys(ctx.upstream) });
    const v = readFileSync(join(up.dir, 'value.txt'), 'utf8');
    writeFileSync(join(ctx.outDir, 'copy.txt'), `${v} from v${up.version} ${up.manifest.kind}`);
    return {};
  },
};

const unbuilt: StageKind = {
  section: 'evals',
  kind: 'later',
  implVersion: '0',
  schema: { type: 'object' },
  deps: () => ({ upstream: [], files: [] }),
  run: async (ctx) => {
    throw new PeftError('E_NOT_IMPLEMENTED', `${ctx.name}: stage kind "${ctx.kind}" is not implemented yet`);
  },
};
const toolchain = { ...TOOLCHAIN, kinds: [producer, consumer, unbuilt] };

function recorder(): Reporter & { progress_: StageProgress[]; logs: string[] } {
  const r = {
    progress_: [] as StageProgress[],
    logs: [] as string[],
    stageStart() {},
    stageEnd() {},
    progress(_n: string, pr: StageProgress) {
      r.progress_.push(pr);
    },
    log(n: string, line: string) {
      r.logs.push(`${n}: ${line}`);
    },
  };
  return r;
}

describe('stage contract', () => {
  it('commits outDir with a manifest and hands upstream artifacts and `previous` to stages', async () => {
    p = new TempProject();
    seen.length = 0;
    p.pipeline({ models: { m: { value: 1 } }, datasets: { d: { from: 'm' } } });
    const rep = recorder();
    const r = await p.build({ toolchain, reporter: rep });
    expect(actions(r)).toEqual({ 'models.m': 'built', 'datasets.d': 'built' });
    expect(rep.progress_).toEqual([{ step: 1, total: 2, unit: 'step', metrics: { loss: 1.5 } }]);
    expect(rep.logs).toEqual(['models.m: value 1']);
    expect(stage(r, 'models.m').summary).toBe('probe done');
    const layout = new StoreLayout(p.dir);
    const key = stage(r, 'datasets.d').key;
    expect(readFileSync(join(layout.object(key), 'copy.txt'), 'utf8')).toBe('10 from v1 probe-producer');
    const manifest = JSON.parse(readFileSync(layout.manifest(stage(r, 'models.m').key), 'utf8'));
    expect(manifest).toMatchObject({
      name: 'models.m',
      kind: 'probe-producer',
      implVersion: '1',
      metrics: { value: 1 },
      config: { value: 1, failOnce: false },
    });
    expect(seen).toEqual([
      { name: 'models.m', previous: undefined, resumed: false, upstream: [] },
      { name: 'datasets.d', resumed: false, upstream: ['models.m'] },
    ]);
    p.pipeline({ models: { m: { value: 2 } }, datasets: { d: { from: 'm' } } });
    seen.length = 0;
    await p.build({ toolchain });
    expect(seen[0]).toEqual({ name: 'models.m', previous: 1, resumed: false, upstream: [] });
  });

  it('keeps resumeDir across a failed run of the same key and removes it on commit', async () => {
    p = new TempProject();
    seen.length = 0;
    p.pipeline({ models: { m: { value: 3, failOnce: true } } });
    const r1 = await p.build({ toolchain });
    expect(stage(r1, 'models.m')).toMatchObject({ action: 'failed', error: 'Error: interrupted after step 1' });
    const resume = new StoreLayout(p.dir).resume('models.m', stage(r1, 'models.m').key);
    expect(readFileSync(join(resume, 'checkpoint'), 'utf8')).toBe('step 1');
    const r2 = await p.build({ toolchain });
    expect(stage(r2, 'models.m').action).toBe('built');
    expect(seen.map((s) => s.resumed)).toEqual([false, true]);
    expect(existsSync(resume)).toBe(false);
  });

  it('a kind that cannot build yet fails with "not implemented yet"', async () => {
    p = new TempProject();
    p.pipeline({ evals: { e: {} } });
    const r = await p.build({ toolchain });
    expect(stage(r, 'evals.e').error).toBe('evals.e: stage kind "later" is not implemented yet');
  });
});
