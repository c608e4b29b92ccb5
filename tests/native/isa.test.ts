// Every kernel ISA path this CPU can run (avx512 / avx2 / scalar, see native/src/kernels/isa.h): the decode GEMVs
// (NF4 decoded in registers, fp32 rows) equal the float64 product of the same weights at awkward shapes, and the
// stories260K greedy sample is token-exact on each path and three QLoRA training steps agree (PEFT_ISA in a child
// process); bad PEFT_ISA is refused.
import { execFileSync, spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { testAddon } from './addon.ts';
import { rowsRelErr, uniform } from './isa-paths.ts';
import { skipReason } from './fixtures.ts';

const k = testAddon.kernels;
const info = k.backendInfo() as { isa: string; isaCpu: string; isaBuilt: string };
const cpu = info.isaCpu.split(' '),
  built = info.isaBuilt.split(' ');
const ALL = ['avx512', 'avx2', 'scalar'];
const runnable = ALL.filter((i) => cpu.includes(i) && built.includes(i));
const here = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(here, '..', '..');

const rand = uniform;
const relErr = rowsRelErr;

describe('kernel ISA selection', () => {
  it(`reports the active ISA and what the CPU and build have (${info.isa}; cpu: ${info.isaCpu}; built: ${info.isaBuilt})`, () => {
    expect(runnable).toContain(info.isa);
    expect(runnable).toContain('scalar');
    expect(k.backendInfo().backend).toMatch(new RegExp(`isa=${info.isa} `));
  });
  it('refuses an unknown ISA and one the CPU or build cannot run, naming the choices', () => {
    expect(() => k.setIsa('sse9')).toThrow(/unknown kernel ISA 'sse9'; use avx512, avx2 or scalar/);
    for (const i of ALL.filter((x) => !runnable.includes(x))) expect(() => k.setIsa(i)).toThrow(/cannot run|has no/);
    expect(k.setIsa(info.isa)).toBe(info.isa);
  });
  it.skipIf(skipReason !== '')('PEFT_ISA=bogus makes the engine refuse to load a model with a clear error', () => {
    const r = spawnSync(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(here, 'isa-child.ts')], {
      env: { ...process.env, PEFT_ISA: 'bogus' },
      encoding: 'utf8',
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/PEFT_ISA: unknown kernel ISA 'bogus'; use avx512, avx2 or scalar/);
  });
});

describe.each(runnable)('decode GEMVs on the %s path', (isa) => {
  // rows not a multiple of 8 or 16; T 1 / 5 / 32; in with and without a tail after the 32- and 8-wide loops
  for (const [out, inn, T] of [
    [37, 64, 1],
    [33, 192, 5],
    [1, 4160, 32],
    [100, 128, 32],
    [17, 64, 5],
  ] as const)
    it(`NF4 ${out}x${inn}, T ${T}: equals the float64 product of the dequantized weight within 2e-6 of sum|w x|`, () => {
      k.setIsa(isa);
      const h = k.frozenLinear({ w: rand(out * inn, 7 + out, 0.05), out, in: inn, storage: 'nf4' });
      const x = rand(T * inn, 11 + T);
      const y = k.frozenLinearForward(h, x, T, 'fp32');
      expect(relErr(y, k.frozenLinearDequantize(h), x, T, out, inn)).toBeLessThan(2e-6);
    });
  it('NF4 with blocks straddling rows (in 40: the tile path) equals the product as well', () => {
    k.setIsa(isa);
    const h = k.frozenLinear({ w: rand(32 * 40, 3, 0.05), out: 32, in: 40, storage: 'nf4' });
    const x = rand(5 * 40, 4);
    expect(relErr(k.frozenLinearForward(h, x, 5, 'fp32'), k.frozenLinearDequantize(h), x, 5, 32, 40)).toBeLessThan(2e-6);
  });
  for (const [out, inn, T] of [
    [37, 1, 1],
    [13, 7, 5],
    [33, 45, 32],
    [20, 100, 5],
    [3, 4167, 1],
  ] as const)
    it(`fp32 rows ${out}x${inn}, T ${T}: equals the float64 product within 2e-6 of sum|w x|`, () => {
      k.setIsa(isa);
      const w = rand(out * inn, 5 + inn);
      const h = k.frozenLinear({ w, out, in: inn, storage: 'f32' });
      const x = rand(T * inn, 9 + T);
      expect(relErr(k.frozenLinearForward(h, x, T, 'fp32'), w, x, T, out, inn)).toBeLessThan(2e-6);
    });
});

const GREEDY = [
  432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358,
  394, 261, 370, 432, 352, 266, 268, 388, 426,
];
describe.skipIf(skipReason !== '')('stories260K greedy sample on every path' + (skipReason ? ` (skipped: ${skipReason})` : ''), () => {
  const runs = new Map<string, { isa: string; none: number[]; nf4: number[]; train: { loss: number; gradNorm: number }[] }>();
  const run = (isa: string) => {
    if (!runs.has(isa))
      runs.set(
        isa,
        JSON.parse(
          execFileSync(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(here, 'isa-child.ts')], { env: { ...process.env, PEFT_ISA: isa }, encoding: 'utf8' }),
        ),
      );
    return runs.get(isa)!;
  };
  it.each(runnable)(
    '%s: fp32 reproduces the recorded ids, NF4 the same ids as the other paths',
    (isa) => {
      const r = run(isa);
      expect(r.isa).toBe(isa);
      expect(r.none).toEqual(GREEDY);
      expect(r.nf4).toEqual(run(runnable[runnable.length - 1]).nf4); // the scalar path's NF4 sample
      expect(r.nf4.slice(0, 16)).toEqual(GREEDY.slice(0, 16));
    },
    60_000,
  );
  it.each(runnable)(
    '%s: three QLoRA training steps (NF4, fp32 compute) give the losses and gradient norms of the other paths within 1e-4',
    (isa) => {
      const r = run(isa).train,
        ref = run(runnable[runnable.length - 1]).train;
      expect(r).toHaveLength(3);
      for (let i = 0; i < 3; i++) {
        expect(Math.abs(r[i].loss - ref[i].loss) / ref[i].loss).toBeLessThan(1e-4);
        expect(Math.abs(r[i].gradNorm - ref[i].gradNorm) / ref[i].gradNorm).toBeLessThan(1e-4);
      }
      expect(r[2].loss).toBeLessThan(r[0].loss); // it trains
    },
    60_000,
  );
});
