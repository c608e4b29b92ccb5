// kern::sgemm's oneDNN route (native/src/kernels/sgemm_onednn.cc): which routine the rule gives each call, and the
// routed products against a float64 reference within the fp32 bound |C - C64| <= (K + 2) 2^-24 (|alpha| |A||B| +
// |beta C0|) (any summation order, plus the alpha and beta roundings), a bound the checks show a wrong product breaks.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { testAddon } from './addon.ts';
import { buffers, type Gemm, refGemm, relErr, shapeOf } from './gemm-ref.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const k: any = testAddon.kernels;
const info = k.backendInfo();
const linked: boolean = info.onednnLinked;
const routed: boolean = String(info.sgemmLibrary).startsWith('onednn+');
const U = 2 ** -24;
const bound = (K: number) => (K + 2) * U;

/** Runs one product (through `opts`: {} = kern::sgemm's routing, {onednn: true} = the oneDNN routine alone) and
 * returns its worst relative error against float64. */
function errorOf(g: Gemm, seed: number, opts: Record<string, boolean>): number {
  const { A, B, C } = buffers(g, seed);
  const C0 = C.slice();
  const { C: want, mag } = refGemm(g, A, B, C0);
  k.sgemm({ ...g, A, B, C, ...opts });
  return relErr(g, C, want, mag, C0);
}

// [transB, M, N, K, pad, alpha, beta]: the matmul primitive (x W^T, K >= 64) and dnnl_sgemm (the rest), odd sizes,
// padded leading dimensions, beta = 0 over NaN (must overwrite), alpha as the attention scale, accumulation
const SHAPES: Array<[boolean, number, number, number, number, number, number]> = [
  [true, 37, 29, 64, 3, 1, 0],
  [true, 130, 67, 300, 5, -1.5, 1],
  [true, 64, 700, 96, 0, 0.125, 0],
  [true, 200, 16, 576, 0, 2, 0],
  [true, 150, 90, 16, 1, 2, 1],
  [false, 37, 29, 53, 3, 0.7, 0.3],
  [false, 96, 200, 16, 0, 1, 1],
  [false, 20, 96, 1500, 2, 1, 0],
  [false, 1, 1, 1, 0, 1, 0],
];

describe('sgemm oneDNN route', () => {
  it('the rule: x W^T with K >= 64 -> matmul primitive, other untransposed A -> dnnl_sgemm, transposed A -> not oneDNN', () => {
    const route = (transA: boolean, transB: boolean, K: number) => k.sgemmRoute({ transA, transB, M: 64, N: 96, K }).route;
    const cases: Array<[boolean, boolean, number, string]> = [
      [false, true, 64, 'onednn-matmul'],
      [false, true, 576, 'onednn-matmul'],
      [false, true, 63, 'onednn-gemm'],
      [false, true, 16, 'onednn-gemm'],
      [false, false, 576, 'onednn-gemm'],
      [false, false, 49152, 'onednn-gemm'],
    ];
    const other = info.openblasLinked ? 'openblas' : 'builtin';
    for (const [tA, tB, K, want] of cases) expect(route(tA, tB, K)).toBe(routed ? want : other);
    for (const tB of [false, true]) expect(route(true, tB, 576)).toBe(info.sgemmLibrary.endsWith('openblas') ? 'openblas' : 'builtin');
    if (routed) expect(k.sgemmRoute({ transA: false, transB: true, M: 1024, N: 576, K: 576 }).impl).not.toMatch(/ref/);
    // on the CPU class it was measured on (OpenBLAS with its AVX-512 kernel, avx512 ISA) the route is on by default
    if (linked && info.isa === 'avx512' && /SkylakeX|Cooperlake|Sapphire/i.test(info.backend) && !process.env.PEFT_SGEMM) expect(routed).toBe(true);
  });

  it.skipIf(!linked)(`oneDNN alone: every routine within the fp32 bound${linked ? '' : ' (skipped: built without oneDNN)'}`, () => {
    for (const [tB, M, N, K, pad, alpha, beta] of SHAPES) {
      const g = shapeOf(false, tB, M, N, K, pad, alpha, beta);
      expect(errorOf(g, M + N + K, { onednn: true }), `transB=${tB} ${M}x${N}x${K}`).toBeLessThanOrEqual(bound(K));
    }
    const g = shapeOf(true, false, 8, 8, 8, 0, 1, 0); // transposed A has no oneDNN routine
    expect(() => k.sgemm({ ...g, ...buffers(g, 1), onednn: true })).toThrow(/no oneDNN routine/);
  });

  it('kern::sgemm routed and split over the pool (1 and 2 threads), every transpose, within the fp32 bound', () => {
    const before = info.threads;
    try {
      for (const threads of [1, 2]) {
        k.setThreads(threads);
        for (const [tA, tB, M, N, K] of [
          [false, true, 256, 192, 576],
          [false, false, 256, 576, 192],
          [true, false, 192, 64, 256],
          [true, true, 96, 80, 128],
          [false, true, 64, 1536, 64],
        ] as Array<[boolean, boolean, number, number, number]>) {
          const g = shapeOf(tA, tB, M, N, K, 1, 0.75, 0.5);
          expect(errorOf(g, M * 7 + K, {}), `${threads} threads transA=${tA} transB=${tB} ${M}x${N}x${K}`).toBeLessThanOrEqual(bound(K));
        }
      }
    } finally {
      k.setThreads(before);
    }
  });

  // In a fresh process (OpenMP teams, once started, stay for the process's life): the thread count after a pooled
  // OpenBLAS product, then after pooled products on each oneDNN routine.
  const procTasks = existsSync('/proc/self/task');
  it.skipIf(!routed || !procTasks)(
    `oneDNN starts no threads of its own: the pool is the process's only compute threads${routed && procTasks ? '' : ' (skipped: route off or no /proc)'}`,
    () => {
      const addonPath = process.env.PEFT_TEST_ADDON ?? fileURLToPath(new URL('../../native/build/Release/peft_engine_test.node', import.meta.url));
      const child = `
        const k = require(${JSON.stringify(addonPath)}).kernels;
        const tasks = () => require('node:fs').readdirSync('/proc/self/task').length;
        k.setThreads(2);
        const run = (transA, transB, K, opt) => {
          const M = 256, N = 128, A = new Float32Array(M * K).fill(0.5), B = new Float32Array(N * K).fill(0.25);
          k.sgemm({ transA, transB, M, N, K, A, B, C: new Float32Array(M * N), ...opt });
        };
        run(true, false, 64, {});
        const pool = tasks();
        run(false, true, 64, {}); run(false, false, 64, {}); run(false, true, 16, {});
        const routed = tasks();
        run(false, true, 64, { onednn: true }); run(false, false, 64, { onednn: true });
        console.log(JSON.stringify({ pool, routed, single: tasks(), route: k.sgemmRoute({ transA: false, transB: true, M: 256, N: 128, K: 64 }).route }));`;
      const r = spawnSync(process.execPath, ['-e', child], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const got = JSON.parse(r.stdout.trim());
      expect(got.route).toBe('onednn-matmul');
      expect(got.routed).toBe(got.pool); // an OpenMP team would add threads here
      expect(got.single).toBe(got.pool);
    },
  );

  it.skipIf(!linked)(`the bound rejects a wrong product: bf16-rounded inputs, a transposed operand${linked ? '' : ' (skipped: built without oneDNN)'}`, () => {
    const g = shapeOf(false, true, 96, 96, 96, 0, 1, 0);
    const { A, B, C } = buffers(g, 5);
    const C0 = C.slice();
    const { C: want, mag } = refGemm(g, A, B, C0);
    // oneDNN fed bf16-rounded inputs (what an implicit bf16 fpmath mode would do): about 2^-9 relative, far past the bound
    const C16 = k.sgemm({ ...g, A: k.bf16ToF32(k.f32ToBf16(A)), B: k.bf16ToF32(k.f32ToBf16(B)), C: C.slice(), onednn: true });
    expect(relErr(g, C16, want, mag, C0)).toBeGreaterThan(10 * bound(g.K));
    // B read untransposed (a stride mix-up): wrong by O(1)
    const Ct = k.sgemm({ ...g, transB: false, ldb: g.ldb, A, B, C: C.slice(), onednn: true });
    expect(relErr(g, Ct, want, mag, C0)).toBeGreaterThan(0.1);
    // and the right product passes the same check
    expect(relErr(g, k.sgemm({ ...g, A, B, C: C.slice(), onednn: true }), want, mag, C0)).toBeLessThanOrEqual(bound(g.K));
  });
});
