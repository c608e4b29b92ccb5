// `peftmake doctor` through the real CLI in a temp project: --json is one object with the checks and facts,
// the human output has a marked line per check, and a token in the environment appears in neither.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TempProject } from '../../helpers/project.ts';

const SECRET = 'hf_cliDoctorSecret9876543210';
let p: TempProject;

beforeAll(() => {
  p = new TempProject('peftmake-doctor-cli-');
  p.pipeline({ stages: { up: { cmd: 'echo hi > out.txt', deps: [], outs: ['out.txt'] } } });
});
afterAll(() => p.cleanup());

describe('peftmake doctor', () => {
  it('--json prints one object; human output marks every check; the token is never printed', async () => {
    const env = { HF_TOKEN: SECRET, HF_HUB_OFFLINE: '1', HF_HOME: p.path('hf') };
    const r = await p.cli(['doctor', '--json'], { env });
    expect(r.stdout + r.stderr).not.toContain(SECRET);
    const out = JSON.parse(r.stdout);
    expect(Object.keys(out)).toEqual(['ok', 'compute_auto', 'facts', 'checks']);
    expect(r.code).toBe(0);
    expect(['bf16', 'fp32']).toContain(out.compute_auto.mode);
    expect(out.facts.hf).toMatchObject({ tokenVar: 'HF_TOKEN', offline: true, home: p.path('hf'), hubCache: p.path('hf/hub') });
    expect(out.facts.project).toMatchObject({ pipeline: p.path('pipeline.json'), exists: false, bytes: 0 });
    expect(out.facts.cpu.logicalCores).toBeGreaterThan(0);
    const ids = out.checks.map((c: { id: string }) => c.id);
    for (const id of ['node', 'cpu', 'cpu_flags', 'addon', 'compute', 'hf_token', 'hf_offline', 'store']) expect(ids).toContain(id);
    // the addon either loaded with kernels info, or the check says why and how to fix it
    if (out.facts.addon.loaded) expect(typeof out.facts.kernels.bf16Library).toBe('string');
    else expect(out.checks.find((c: { id: string }) => c.id === 'addon').fix).toContain('npm run build:native');

    const human = await p.cli(['doctor'], { env });
    expect(human.code).toBe(0);
    expect(human.stdout).not.toContain(SECRET);
    expect(human.stdout).toMatch(/^· HF token +set in HF_TOKEN \(hidden\)$/m);
    expect(human.stdout).toMatch(/^· artifact store +none yet/m);
    expect(human.stdout.split('\n').filter((l) => /^[✓!·] /.test(l)).length).toBe(out.checks.length);
  });
});
