// The doctor's judgement on given machines (AMX, Zen 4, AVX2-only; addon built with / without oneDNN, not built),
// the compute mode `auto` picks, aligned human output, and that a token in the environment is never printed.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { collectFacts, storeSize } from '../../../src/doctor/collect.ts';
import { parseCpuInfo } from '../../../src/doctor/cpu.ts';
import { allOk, autoComputeMode, diagnose, formatBytes, versionAtLeast } from '../../../src/doctor/diagnose.ts';
import type { DoctorFacts, KernelsInfo } from '../../../src/doctor/facts.ts';
import { renderChecks } from '../../../src/doctor/render.ts';

const cpu = (flags: string) => ({
  ...parseCpuInfo(`processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: ${flags}\n\nprocessor\t: 1\nmodel name\t: Test CPU\nflags\t\t: ${flags}\n`),
  source: 'proc-cpuinfo' as const,
});
const AMX = 'avx2 avx512f avx512_bf16 amx_bf16 amx_tile';
const ZEN4 = 'avx2 avx512f avx512_bf16';
const AVX2 = 'avx2 fma';

const kernels = (over: Partial<KernelsInfo> = {}): KernelsInfo => ({
  backend: 'sgemm=openblas bf16=onednn-2.6.3/omp (brg:avx512_core_amx_bf16) threads=2',
  threads: 2,
  bf16Native: true,
  bf16Impl: 'brg:avx512_core_amx_bf16',
  bf16Library: 'onednn-2.6.3/omp',
  sgemmLibrary: 'openblas',
  openblasLinked: true,
  ...over,
});

function facts(over: Partial<DoctorFacts> = {}): DoctorFacts {
  return {
    node: { version: 'v20.19.1', required: '>=20.19' },
    platform: 'linux-x64',
    cpu: cpu(AMX),
    memory: { totalMb: 16384, availableMb: 12000 },
    loadavg: [0.2, 0.3, 0.4],
    addon: { path: '/x/peft_engine.node', loaded: true, version: '0.1.0' },
    kernels: kernels(),
    detected: { openblas: true, dnnl: true },
    hf: { hubCache: '/home/u/.cache/huggingface/hub', offline: false },
    ...over,
  };
}
const byId = (f: DoctorFacts, id: string) => diagnose(f).find((c) => c.id === id)!;

describe('diagnose', () => {
  it('an AMX machine with oneDNN linked: no problems, auto picks bf16', () => {
    const f = facts();
    expect(allOk(diagnose(f))).toBe(true);
    expect(autoComputeMode(f)).toEqual({ mode: 'bf16', reason: 'bf16 matmul runs natively (brg:avx512_core_amx_bf16)' });
    expect(byId(f, 'cpu_flags').value).toBe('avx2 avx512f avx512_bf16 amx_bf16 amx_tile (AMX bf16 tiles)');
  });

  it('a Zen 4 CPU with the addon built without oneDNN: the fix installs libdnnl-dev and rebuilds; auto is fp32', () => {
    const f = facts({
      cpu: cpu(ZEN4),
      kernels: kernels({ bf16Native: false, bf16Library: 'none', bf16Impl: 'fallback:f32-sgemm' }),
      detected: { openblas: true, dnnl: false },
    });
    const c = byId(f, 'bf16');
    expect(c.status).toBe('warn');
    expect(c.fix).toBe('the CPU has native bf16 but oneDNN is missing: apt-get install -y libdnnl-dev && npm run build:native');
    expect(autoComputeMode(f)).toEqual({ mode: 'fp32', reason: 'addon built without oneDNN' });
    expect(allOk(diagnose(f))).toBe(false);
  });

  it('oneDNN installed after the build: the fix is a rebuild', () => {
    const f = facts({ kernels: kernels({ bf16Native: false, bf16Library: 'none' }), detected: { openblas: true, dnnl: true } });
    expect(byId(f, 'bf16').fix).toBe('oneDNN is installed now but the addon was built without it: npm run build:native');
    const g = facts({ kernels: kernels({ openblasLinked: false, sgemmLibrary: 'builtin' }), detected: { openblas: true, dnnl: true } });
    expect(byId(g, 'sgemm')).toMatchObject({ status: 'warn', fix: 'OpenBLAS is installed now but the addon was built without it: npm run build:native' });
  });

  it('an AVX2-only CPU with oneDNN: nothing to fix, fp32 fallback, auto is fp32', () => {
    const f = facts({ cpu: cpu(AVX2), kernels: kernels({ bf16Native: false, bf16Impl: 'fallback:f32-sgemm' }) });
    expect(byId(f, 'bf16')).toMatchObject({ status: 'ok', value: 'onednn-2.6.3/omp, no bf16 ISA on this CPU: fp32 fallback' });
    expect(autoComputeMode(f)).toEqual({ mode: 'fp32', reason: 'the CPU has no AVX512-BF16 / AMX' });
    expect(allOk(diagnose(f))).toBe(true);
  });

  it('an AVX512-BF16 CPU on the forced avx2 kernel path (PEFT_ISA=avx2): auto is fp32 and says why', () => {
    const f = facts({ kernels: kernels({ bf16Native: false, bf16Impl: 'fallback:f32-sgemm', isa: 'avx2' }) });
    expect(f.cpu.flags.avx512_bf16 || f.cpu.flags.amx_bf16).toBe(true);
    expect(autoComputeMode(f)).toEqual({ mode: 'fp32', reason: 'the kernels run the avx2 path (PEFT_ISA): no native bf16 there' });
  });

  it('the kernel ISA: reported with what the CPU and build can run; scalar and a refused PEFT_ISA are warnings', () => {
    const ok = facts({ cpu: cpu(AVX2), kernels: kernels({ isa: 'avx2', isaCpu: 'avx2 scalar', isaBuilt: 'avx512 avx2 scalar' }) });
    expect(byId(ok, 'isa')).toMatchObject({ status: 'ok', value: 'avx2 (CPU can run: avx2 scalar; built: avx512 avx2 scalar)' });
    const scalar = facts({ kernels: kernels({ isa: 'scalar', isaCpu: 'avx512 avx2 scalar', isaBuilt: 'avx512 avx2 scalar' }) });
    expect(byId(scalar, 'isa').status).toBe('warn');
    const bad = facts({
      kernels: kernels({
        isaCpu: 'avx2 scalar',
        isaBuilt: 'avx2 scalar',
        isaError: 'PEFT_ISA: this CPU cannot run the avx512 kernels (it has: avx2 scalar); choose one of those or unset it',
      }),
    });
    expect(byId(bad, 'isa')).toMatchObject({ status: 'warn', value: expect.stringContaining('refused: PEFT_ISA: this CPU cannot run the avx512 kernels') });
    expect(byId(bad, 'isa').fix).toContain('PEFT_ISA');
  });

  it('no addon: the fix is npm run build:native and auto falls back to fp32', () => {
    const f = facts({
      addon: { path: '/x/peft_engine.node', loaded: false, error: '/x/peft_engine.node is missing (the native engine is not built)' },
      kernels: undefined,
    });
    const c = byId(f, 'addon');
    expect(c).toMatchObject({ status: 'warn', value: 'not loaded: /x/peft_engine.node is missing (the native engine is not built)' });
    expect(c.fix).toContain('npm run build:native');
    expect(diagnose(f).some((x) => x.id === 'bf16')).toBe(false);
    expect(autoComputeMode(f).mode).toBe('fp32');
  });

  it('old Node, low memory and a busy machine are problems with fixes', () => {
    const f = facts({ node: { version: 'v18.20.0', required: '>=20.19' }, memory: { totalMb: 4096, availableMb: 900 }, loadavg: [3.1, 2, 1] });
    const warn = diagnose(f)
      .filter((c) => c.status === 'warn')
      .map((c) => c.id);
    expect(warn).toEqual(['node', 'memory', 'load']);
    expect(byId(f, 'load').fix).toContain('1-min load 3.1 on 2 cores');
  });

  it('store size and HF settings appear; the token is only named by its variable', () => {
    const f = facts({
      hf: { hubCache: '/c', tokenVar: 'HF_TOKEN', offline: true, home: '/h' },
      project: { pipeline: '/p/pipeline.json', store: '/p/artifacts', exists: true, bytes: 3 * 2 ** 20, objects: 4 },
    });
    expect(byId(f, 'hf_token').value).toBe('set in HF_TOKEN (hidden)');
    expect(byId(f, 'hf_offline').value).toBe('on: builds use the hub cache only');
    expect(byId(f, 'store').value).toBe('3.0 MB in 4 artifact(s) at /p/artifacts');
  });
});

describe('helpers', () => {
  it('versionAtLeast and formatBytes', () => {
    expect(versionAtLeast('v20.19.0', '>=20.19')).toBe(true);
    expect(versionAtLeast('v20.9.0', '>=20.19')).toBe(false);
    expect(versionAtLeast('v22.1.0', '>=20.19')).toBe(true);
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1536)).toBe('1.5 KB');
    expect(formatBytes(5 * 2 ** 30)).toBe('5.0 GB');
  });

  it('renderChecks aligns values in one column and puts the fix under its problem', () => {
    const text = renderChecks(diagnose(facts({ kernels: kernels({ bf16Native: false, bf16Library: 'none' }) })));
    const lines = text.split('\n').filter((l) => /^[✓!·] /.test(l));
    const cols = new Set(lines.map((l) => l.search(/\S/) + l.slice(2).search(/ {2}\S/) + 4));
    expect(cols.size).toBe(1);
    expect(text).toMatch(/^! bf16 matmul +built without oneDNN: fp32 fallback\n +fix: oneDNN is installed now/m);
    expect(text.trimEnd().split('\n').at(-1)).toBe('1 problem(s) found (marked !)');
  });

  it('collectFacts never keeps the token, and measures a store', () => {
    const dir = mkdtempSync(join(tmpdir(), 'peftmake-doctor-'));
    try {
      writeFileSync(join(dir, 'pipeline.json'), '{}');
      mkdirSync(join(dir, 'artifacts', 'objects', 'k1'), { recursive: true });
      writeFileSync(join(dir, 'artifacts', 'objects', 'k1', 'a.bin'), Buffer.alloc(1000));
      writeFileSync(join(dir, 'artifacts', 'refs.json'), Buffer.alloc(24));
      expect(storeSize(join(dir, 'artifacts'))).toEqual({ bytes: 1024, objects: 1 });
      const secret = 'hf_doctorSecretTokenValue1234';
      const f = collectFacts({ env: { HUGGING_FACE_HUB_TOKEN: secret, HF_HOME: '/hfhome' }, pipeline: join(dir, 'pipeline.json') });
      expect(f.hf).toMatchObject({ tokenVar: 'HUGGING_FACE_HUB_TOKEN', home: '/hfhome', hubCache: '/hfhome/hub', offline: false });
      expect(f.project).toMatchObject({ exists: true, bytes: 1024, objects: 1 });
      const all = JSON.stringify(f) + renderChecks(diagnose(f)) + JSON.stringify(diagnose(f));
      expect(all).not.toContain(secret);
      expect(all).not.toContain('doctorSecret');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
