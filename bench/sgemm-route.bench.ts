// sgemm route benchmark (JSON lines): the fp32 training step's own sgemm calls (SmolLM2-135M shape, seq 512 x batch 4,
// 2 pool threads: each frozen / LoRA product a 1024-row share, the lm_head in 64-row chunks, attention in 128-row
// chunks) timed as one call on one thread - as each pool thread runs them - in OpenBLAS, the oneDNN matmul primitive
// and oneDNN's dnnl_sgemm, interleaved rounds, min of process CPU time per call (the machine is shared). Prints each
// call shape with the three times and the route kern::sgemm takes, then the step's sgemm time per thread for
// OpenBLAS alone, for the route and for the best routine per shape. The rule in native/src/kernels/sgemm_onednn.cc
// comes from this. Run: `npx tsx bench/sgemm-route.bench.ts`. Env: BENCH_ROUNDS (5), BENCH_ONLY (substring of a shape).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { emitJson, loadAverage, round } from './lib/system.ts';

const addonPath = process.env.PEFT_TEST_ADDON ?? fileURLToPath(new URL('../native/build/Release/peft_engine_test.node', import.meta.url));
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const k: any = createRequire(import.meta.url)(addonPath).kernels;
const info = k.backendInfo();
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const ONLY = process.env.BENCH_ONLY ?? '';

interface Call {
  what: string;
  transA: boolean;
  transB: boolean;
  M: number;
  N: number;
  K: number;
  lda: number;
  ldb: number;
  ldc: number;
  alpha: number;
  beta: number;
  perStep: number; // calls per training step over both pool threads (logged from the engine)
}
const call = (what: string, tA: boolean, tB: boolean, M: number, N: number, K: number, perStep: number, o: Partial<Call> = {}): Call => ({
  what,
  transA: tA,
  transB: tB,
  M,
  N,
  K,
  lda: tA ? M : K,
  ldb: tB ? K : N,
  ldc: N,
  alpha: 1,
  beta: 0,
  perStep,
  ...o,
});

// H 576, I 1536, kv 192 (3 heads of 64), vocab 49152, r 16; 30 layers, recomputation as the engine bench runs it
const CALLS: Call[] = [
  call('lm_head forward x E^T', false, true, 64, 49152, 576, 32),
  call('lm_head input grad dlogits E', false, false, 64, 576, 49152, 32),
  call('q/o forward', false, true, 1024, 576, 576, 168),
  call('k/v forward', false, true, 1024, 192, 576, 168),
  call('gate/up forward', false, true, 1024, 1536, 576, 168),
  call('down forward', false, true, 1024, 576, 1536, 84),
  call('q/o input grad', false, false, 1024, 576, 576, 120, { beta: 1 }),
  call('k/v input grad', false, false, 1024, 576, 192, 120, { beta: 1 }),
  call('gate/up input grad', false, false, 1024, 576, 1536, 120, { beta: 1 }),
  call('down input grad', false, false, 1024, 1536, 576, 60, { beta: 1 }),
  ...[128, 256, 384, 512].flatMap((n) => [
    call(`attention QK^T keys ${n}`, false, true, 128, n, 64, 2592, { lda: 576, ldb: 192, alpha: 0.125 }),
    call(`attention dP = dO V^T keys ${n}`, false, true, 128, n, 64, 1080, { lda: 576, ldb: 192 }),
    call(`attention PV keys ${n}`, false, false, 128, 64, n, 2592, { ldb: 192, ldc: 576 }),
    call(`attention dK dS^T Q keys ${n}`, true, false, n, 64, 128, 2160, { ldb: 576, ldc: 192, beta: 1 }),
  ]),
  call('LoRA x A^T (in 576)', false, true, 1024, 16, 576, 504),
  call('LoRA x A^T (in 1536)', false, true, 1024, 16, 1536, 84),
  call('LoRA up u B^T (out 576)', false, true, 1024, 576, 16, 252, { alpha: 2, beta: 1 }),
  call('LoRA up u B^T (out 1536)', false, true, 1024, 1536, 16, 168, { alpha: 2, beta: 1 }),
  call('LoRA dx += du A (in 576)', false, false, 1024, 576, 16, 360, { beta: 1 }),
  call('LoRA du = dy B (out 576)', false, false, 1024, 16, 576, 180, { alpha: 2 }),
  call('LoRA dB = dy^T u (out 576)', true, false, 288, 16, 2048, 360, { lda: 576, ldb: 16 }),
  call('LoRA dA (in 1536)', true, false, 768, 16, 2048, 60, { lda: 1536, ldb: 16 }),
].filter((c) => !ONLY || c.what.includes(ONLY));

function fill(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 4294967296 - 0.5;
  }
  return a;
}

type Variant = 'openblas' | 'matmul' | 'gemm';
const variants: Variant[] = info.openblasLinked ? ['openblas'] : [];
if (info.onednnLinked) variants.push('matmul', 'gemm');
if (variants.length < 2) {
  emitJson({ bench: 'sgemm-route', skipped: `needs OpenBLAS and oneDNN (openblas ${info.openblasLinked}, onednn ${info.onednnLinked})` });
  process.exit(0);
}
const opt = (v: Variant) => (v === 'openblas' ? { openblas: true } : { onednn: v });

const bufs = CALLS.map((c, i) => ({
  A: fill((c.transA ? c.K : c.M) * c.lda, 3 * i + 1),
  B: fill((c.transB ? c.N : c.K) * c.ldb, 3 * i + 2),
  C: fill(c.M * c.ldc, 3 * i + 3),
}));
const best = CALLS.map(() => Object.fromEntries(variants.map((v) => [v, Infinity])) as Record<Variant, number>);
for (let r = 0; r < ROUNDS; r++)
  CALLS.forEach((c, i) => {
    const reps = Math.max(1, Math.round(1e8 / (2 * c.M * c.N * c.K)));
    for (const v of variants) {
      const args = { ...c, ...bufs[i], ...opt(v) };
      k.sgemm(args); // warm-up: primitive creation, first touch
      const c0 = process.cpuUsage();
      for (let j = 0; j < reps; j++) k.sgemm(args);
      const d = process.cpuUsage(c0);
      best[i][v] = Math.min(best[i][v], (d.user + d.system) / 1e6 / reps);
    }
  });

const routeOf = (c: Call): Variant => {
  const r = k.sgemmRoute(c).route as string;
  return r === 'onednn-matmul' ? 'matmul' : r === 'onednn-gemm' ? 'gemm' : 'openblas';
};
let tBlas = 0,
  tRoute = 0,
  tBest = 0;
CALLS.forEach((c, i) => {
  const b = best[i],
    route = routeOf(c),
    perThread = c.perStep / 2;
  const fastest = Math.min(...variants.map((v) => b[v]));
  tBlas += perThread * (b.openblas ?? Infinity);
  tRoute += perThread * b[route];
  tBest += perThread * fastest;
  emitJson({
    bench: 'sgemm-route',
    call: c.what,
    shape: `${c.transA ? 'T' : 'N'}${c.transB ? 'T' : 'N'} ${c.M}x${c.N}x${c.K} alpha ${c.alpha} beta ${c.beta}`,
    calls_per_step: c.perStep,
    ...Object.fromEntries(variants.map((v) => [`${v}_us`, round(b[v] * 1e6, 1)])),
    ...Object.fromEntries(variants.map((v) => [`${v}_gflops`, round((2 * c.M * c.N * c.K) / b[v] / 1e9, 1)])),
    route,
    route_speedup_over_openblas: round((b.openblas ?? Number.NaN) / b[route], 2),
  });
});
emitJson({
  bench: 'sgemm-route-step',
  note: 'sgemm seconds of one training step per pool thread (2 threads), one call at a time on one thread',
  openblas_ms: round(tBlas * 1e3, 1),
  routed_ms: round(tRoute * 1e3, 1),
  best_per_shape_ms: round(tBest * 1e3, 1),
  routed_speedup: round(tBlas / tRoute, 3),
  rounds: ROUNDS,
  backend: info.backend,
  loadavg: loadAverage(),
});
