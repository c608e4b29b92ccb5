// Planning the executors (pure): which stages run on Slurm and with which options (stage over top level, `--executor`
// over both, light stages local), the keys not depending on it, the sbatch argument list and batch script, the
// schema's checks of the Slurm options, the job-log line protocol, and the doctor's reading of sinfo.
import { describe, expect, it } from 'vitest';
import { loadPipelineText } from '../../../src/config/load.ts';
import { TOOLCHAIN } from '../../helpers/toolchain.ts';
import { chooseExecutors } from '../../../src/exec/executors/choose.ts';
import { batchScript, jobSpec, sbatchArgs, shellQuote } from '../../../src/exec/executors/sbatch-plan.ts';
import { decodeLine, encodeEvent, LineSplitter } from '../../../src/exec/executors/job-events.ts';
import { parsePartitions } from '../../../src/slurm/commands.ts';
import { slurmCheck } from '../../../src/doctor/diagnose.ts';
import { keyOf, stripCosmetic } from '../../../src/plan/plan.ts';

const load = (p: unknown) => loadPipelineText(JSON.stringify(p, null, 2), 'pipeline.json', { cwd: '/proj', kinds: TOOLCHAIN.kinds });
const base = {
  models: { m: { path: 'models/m' } },
  datasets: { d: { model: 'm', source: { files: ['d.txt'] }, format: 'text' } },
  adapters: {
    a: { base: 'm', data: 'd' },
    b: { base: 'm', data: 'd', executor: { kind: 'local' } },
    c: { base: 'm', data: 'd', executor: { partition: 'gpu', time: '2:00:00' } },
  },
  stages: { light: { cmd: 'true' }, heavy: { cmd: 'true', heavy: true }, remote: { cmd: 'torchrun x.py', executor: { kind: 'slurm', nodes: 2 } } },
};

describe('executor choice', () => {
  it('defaults to local everywhere', () => {
    const c = chooseExecutors(load(base));
    expect([...c].filter(([, x]) => x.kind === 'slurm').map(([n]) => n)).toEqual(['stages.remote']);
  });

  it('top-level slurm sends heavy stages to Slurm; a stage overrides field by field; light stages stay local', () => {
    const c = chooseExecutors(load({ ...base, executor: { kind: 'slurm', partition: 'cpu', account: 'lab', sbatchArgs: ['--exclusive'] } }));
    const kinds = Object.fromEntries([...c].map(([n, x]) => [n, x.kind]));
    expect(kinds).toEqual({
      'models.m': 'local',
      'datasets.d': 'local',
      'adapters.a': 'slurm',
      'adapters.b': 'local',
      'adapters.c': 'slurm',
      'stages.light': 'local',
      'stages.heavy': 'slurm',
      'stages.remote': 'slurm',
    });
    expect(c.get('adapters.c')!.slurm).toEqual({ partition: 'gpu', account: 'lab', sbatchArgs: ['--exclusive'], time: '2:00:00' });
    expect(c.get('stages.remote')!.slurm).toEqual({ partition: 'cpu', account: 'lab', sbatchArgs: ['--exclusive'], nodes: 2 });
  });

  it('build --executor overrides the kind of every stage that may leave, never a light one', () => {
    const toSlurm = chooseExecutors(load(base), 'slurm');
    expect(['adapters.a', 'adapters.b', 'stages.heavy', 'stages.remote'].map((n) => toSlurm.get(n)!.kind)).toEqual(['slurm', 'slurm', 'slurm', 'slurm']);
    expect(['datasets.d', 'stages.light'].map((n) => toSlurm.get(n)!.kind)).toEqual(['local', 'local']);
    const toLocal = chooseExecutors(load({ ...base, executor: { kind: 'slurm' } }), 'local');
    expect([...toLocal.values()].every((x) => x.kind === 'local')).toBe(true);
  });

  it('is not part of any stage key', () => {
    const a = load(base).stages.get('adapters.c')!.config;
    const b = load({ ...base, adapters: { ...base.adapters, c: { base: 'm', data: 'd' } } }).stages.get('adapters.c')!.config;
    expect(stripCosmetic(a)).toEqual(stripCosmetic(b));
    const m = (config: unknown) =>
      keyOf({ kind: 'adapter', implVersion: '1', config: stripCosmetic(config), inputs: [], params: {}, upstream: {}, resolved: {}, engineVersion: 'x' });
    expect(m(a)).toBe(m(b));
  });

  it('the schema checks the Slurm options and names where a bad one is', () => {
    const bad = { ...base, executor: { kind: 'slurm', time: 'two hours', mem: '16 GB', sbatchArgs: ['exclusive'], cpusPerTask: 0, bogus: 1 } };
    let msg = '';
    try {
      load(bad);
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/pipeline\.json:\d+ \/executor\/time: /);
    expect(msg).toMatch(/pipeline\.json:\d+ \/executor\/mem: /);
    expect(msg).toMatch(/pipeline\.json:\d+ \/executor\/sbatchArgs\/0: /);
    expect(msg).toMatch(/pipeline\.json:\d+ \/executor\/cpusPerTask: /);
    expect(msg).toMatch(/pipeline\.json:\d+ \/executor\/bogus: unknown field "bogus"/);
    expect(() => load({ ...base, datasets: { d: { ...base.datasets.d, executor: { kind: 'slurm' } } } })).toThrow(
      /\/datasets\/d\/executor: unknown field "executor"/,
    );
  });
});

describe('sbatch plan', () => {
  const spec = jobSpec('adapters.a', 'ab'.repeat(32), '/shared/my project', '/shared/my project/pipeline.json', "/shared/my project/artifacts/jobs/it's");
  it('passes the Slurm options as Slurm names them, then the extra arguments as given, then the script', () => {
    expect(
      sbatchArgs(
        {
          partition: 'gpu',
          time: '1-00:00:00',
          cpusPerTask: 8,
          mem: '32G',
          gres: 'gpu:a100:1',
          account: 'lab',
          qos: 'high',
          constraint: 'a100',
          nodes: 1,
          ntasksPerNode: 1,
          sbatchArgs: ['--signal=B:TERM@120', '--exclusive'],
        },
        spec,
      ),
    ).toEqual([
      '--parsable',
      `--job-name=peftmake:adapters.a:${'ab'.repeat(6)}`,
      '--chdir=/shared/my project',
      `--output=${spec.log}`,
      '--open-mode=append',
      '--export=ALL',
      '--partition=gpu',
      '--time=1-00:00:00',
      '--cpus-per-task=8',
      '--mem=32G',
      '--gres=gpu:a100:1',
      '--account=lab',
      '--qos=high',
      '--constraint=a100',
      '--nodes=1',
      '--ntasks-per-node=1',
      '--signal=B:TERM@120',
      '--exclusive',
      spec.script,
    ]);
  });
  it('writes a script that execs run-stage in the project directory, quoted for the shell', () => {
    const text = batchScript(spec, ['/usr/bin/node', '/opt/peftmake/bin/peftmake.js']);
    expect(text.split('\n')).toEqual([
      '#!/bin/sh',
      `# peftmake: builds adapters.a (key ${'ab'.repeat(32)}) on a compute node; written by \`peftmake build\`.`,
      "cd '/shared/my project' || exit 1",
      `exec /usr/bin/node /opt/peftmake/bin/peftmake.js run-stage adapters.a --key ${'ab'.repeat(32)} --job-dir '/shared/my project/artifacts/jobs/it'\\''s' --file '/shared/my project/pipeline.json'`,
      '',
    ]);
    expect(shellQuote('a b')).toBe("'a b'");
  });
});

describe('job log protocol', () => {
  it('round-trips events and keeps other lines (torn ones too) as log lines', () => {
    const s = new LineSplitter();
    const text =
      encodeEvent({ t: 'progress', p: { step: 3, total: 9, message: 'loss 1.5' } }) + 'slurmstepd: error: *** JOB 4 CANCELLED ***\n' + '@peftmake {"t":"pro';
    const lines = s.push(text);
    expect(lines.map(decodeLine)).toEqual([
      { t: 'progress', p: { step: 3, total: 9, message: 'loss 1.5' } },
      { t: 'log', line: 'slurmstepd: error: *** JOB 4 CANCELLED ***' },
    ]);
    expect(s.flush().map(decodeLine)).toEqual([{ t: 'log', line: '@peftmake {"t":"pro' }]);
  });
});

describe('doctor: Slurm', () => {
  it('reads sinfo partitions and judges reachability', () => {
    const parts = parsePartitions('debug*|up|infinite|1|idle\ngpu|up|2-00:00:00|3|mixed\ngpu|up|2-00:00:00|1|drained\n');
    expect(parts).toEqual([
      { name: 'debug', default: true, available: 'up', timeLimit: 'infinite', nodes: 1, states: 'idle' },
      { name: 'gpu', default: false, available: 'up', timeLimit: '2-00:00:00', nodes: 4, states: 'mixed,drained' },
    ]);
    expect(slurmCheck({ installed: true, partitions: parts })).toMatchObject({
      status: 'ok',
      value: 'reachable; partitions: debug* (up, 1 node idle, limit infinite), gpu (up, 4 nodes mixed,drained, limit 2-00:00:00)',
    });
    expect(slurmCheck({ installed: false })).toMatchObject({ status: 'info', value: 'not installed here (no sinfo)' });
    expect(slurmCheck({ installed: true, error: 'sinfo: fatal: Could not establish a configuration source' })).toMatchObject({
      status: 'info',
      value: 'installed, not reachable: sinfo: fatal: Could not establish a configuration source',
    });
    expect(slurmCheck({ installed: true, partitions: [] }).status).toBe('warn');
  });
});
