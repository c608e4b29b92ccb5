// CPU flag parsing from /proc/cpuinfo samples (Intel with AMX, AMD Zen 4, a CPU without AVX-512, arm64,
// a heterogeneous machine) and the bf16 tier each implies.
import { describe, expect, it } from 'vitest';
import { bf16Tier, parseCpuInfo, readCpuFacts } from '../../../src/doctor/cpu.ts';

const block = (n: number, model: string, flags: string): string =>
  [
    `processor\t: ${n}`,
    'vendor_id\t: GenuineIntel',
    'cpu family\t: 6',
    `model name\t: ${model}`,
    'cpu MHz\t\t: 2100.000',
    `flags\t\t: ${flags}`,
    'bugs\t\t: spectre_v1',
    '',
  ].join('\n');

const SPR_FLAGS =
  'fpu vme sse sse2 ssse3 fma avx avx2 avx512f avx512dq avx512cd avx512bw avx512vl avx512_bf16 avx512_vnni amx_bf16 avx512_fp16 amx_tile amx_int8 arch_capabilities';
const ZEN4_FLAGS = 'fpu vme de pse sse sse2 ssse3 fma avx f16c avx2 avx512f avx512dq avx512ifma avx512cd avx512bw avx512vl avx512_bf16 avx512vbmi avx512_vnni';
const HASWELL_FLAGS = 'fpu vme sse sse2 ssse3 fma avx f16c avx2 bmi1 bmi2';

describe('parseCpuInfo', () => {
  it('reads model, core count and the key flags of an AMX Xeon', () => {
    const p = parseCpuInfo(
      block(0, 'Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz', SPR_FLAGS) + block(1, 'Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz', SPR_FLAGS),
    );
    expect(p.model).toBe('Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz');
    expect(p.logicalCores).toBe(2);
    expect(p.flags).toEqual({ avx2: true, avx512f: true, avx512_bf16: true, amx_bf16: true, amx_tile: true });
    expect(p.present).toEqual(['avx2', 'avx512f', 'avx512_bf16', 'amx_bf16', 'amx_tile']);
    expect(bf16Tier(p.flags)).toBe('amx');
  });

  it('Zen 4: AVX512-BF16 without AMX; flag names are matched whole (avx512_bf16 is not avx512f)', () => {
    const p = parseCpuInfo(block(0, 'AMD EPYC', ZEN4_FLAGS));
    expect(p.present).toEqual(['avx2', 'avx512f', 'avx512_bf16']);
    expect(bf16Tier(p.flags)).toBe('avx512_bf16');
    const only = parseCpuInfo(block(0, 'x', 'avx512_bf16 avx512fp'));
    expect(only.flags.avx512f).toBe(false);
    expect(only.flags.avx512_bf16).toBe(true);
  });

  it('AVX2-only CPU has no bf16 tier', () => {
    const p = parseCpuInfo(block(0, 'Intel(R) Core(TM) i7-4770', HASWELL_FLAGS));
    expect(p.present).toEqual(['avx2']);
    expect(bf16Tier(p.flags)).toBe('none');
  });

  it('a flag counts only when every processor lists it', () => {
    const p = parseCpuInfo(block(0, 'hybrid', SPR_FLAGS) + block(1, 'hybrid', HASWELL_FLAGS));
    expect(p.logicalCores).toBe(2);
    expect(p.present).toEqual(['avx2']);
  });

  it('amx_bf16 without amx_tile is not the AMX tier', () => {
    expect(bf16Tier(parseCpuInfo(block(0, 'x', 'avx2 avx512f avx512_bf16 amx_bf16')).flags)).toBe('avx512_bf16');
  });

  it('arm64 Features lines and an empty text', () => {
    const arm = parseCpuInfo(
      'processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes bf16\n\nprocessor\t: 1\nFeatures\t: fp asimd evtstrm aes bf16\n',
    );
    expect(arm.logicalCores).toBe(2);
    expect(arm.present).toEqual([]);
    expect(parseCpuInfo('')).toEqual({
      model: 'unknown',
      logicalCores: 0,
      flags: { avx2: false, avx512f: false, avx512_bf16: false, amx_bf16: false, amx_tile: false },
      present: [],
    });
  });

  it('readCpuFacts falls back to os.cpus() when the file is absent', () => {
    const f = readCpuFacts('/nonexistent/cpuinfo');
    expect(f.source).toBe('os.cpus');
    expect(f.logicalCores).toBeGreaterThan(0);
    expect(f.present).toEqual([]);
  });
});
