// Kernel benchmark (JSON lines): GFLOPS of sgemm (linked library and built-in), gemm_bf16 and FrozenLinear
// (NF4 / bf16 / f32 storage in bf16 and fp32 compute, forward and input-gradient) on SmolLM2-135M training shapes
// with T = 2048 tokens. This is the "in-run matmul rate" that end-to-end training figures are compared against.
// Then causal attention (ops.attention, fp32 and bf16) on its training shape: 4 sequences of 512 (T / 4), 9 query
// heads, 3 KV heads, head_dim 64 (FLOPs of the causal half only).
// Run: `npx tsx bench/kernels.bench.ts`. Env: BENCH_T (2048), BENCH_REPS (3), BENCH_THREADS (all cores),
// BENCH_ONLY (substring filter on the measurement name).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

// The test addon (native/build/Release/peft_engine_test.node, built with the engine) exposes the raw kernels and ops.
const addonPath = process.env.PEFT_TEST_ADDON ?? fileURLToPath(new URL('../native/build/Release/peft_engine_test.node', import.meta.url));
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const addon: any = createRequire(import.meta.url)(addonPath);
const k = addon.kernels;

const T = Number(process.env.BENCH_T ?? 2048);
const REPS = Number(process.env.BENCH_REPS ?? 3);
const ONLY = process.env.BENCH_ONLY ?? '';
if (process.env.BENCH_THREADS) k.setThreads(Number(process.env.BENCH_THREADS));
const info = k.backendInfo();

// [in, out] of SmolLM2-135M's projections: q/o, k/v, gate/up, down, and the (unquantized) lm_head.
const SHAPES: Array<{ name: string; in: number; out: number; linear: boolean }> = [
  { name: 'q_proj/o_proj', in: 576, out: 576, linear: true },
  { name: 'k_proj/v_proj', in: 576, out: 192, linear: true },
  { name: 'gate_proj/up_proj', in: 576, out: 1536, linear: true },
  { name: 'down_proj', in: 1536, out: 576, linear: true },
  { name: 'lm_head', in: 576, out: 49152, linear: false },
];

function rand(n: number, scale: number): Float32Array {
  const a = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 4294967296 - 0.5) * 2 * scale;
  }
  return a;
}

/** Best wall time of REPS runs after one warm-up (which also creates and caches oneDNN primitives). */
function best(fn: () => void): number {
  fn();
  let b = Infinity;
  for (let r = 0; r < REPS; r++) {
    const t0 = process.hrtime.bigint();
    fn();
    b = Math.min(b, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return b;
}

function emit(name: string, shape: string, op: string, flops: number, seconds: number, impl: string): void {
  if (ONLY && !name.includes(ONLY)) return;
  console.log(
    JSON.stringify({
      bench: 'kernels',
      name,
      shape,
      op,
      T,
      gflops: +(flops / seconds / 1e9).toFixed(1),
      ms: +(seconds * 1e3).toFixed(2),
      impl,
      backend: info.backend,
      threads: info.threads,
      bf16Native: info.bf16Native,
    }),
  );
}
const want = (name: string) => !ONLY || name.includes(ONLY);

for (const s of SHAPES) {
  const shape = `${s.name} [${s.in}->${s.out}]`;
  const flops = 2 * T * s.in * s.out;
  const x = rand(T * s.in, 1),
    w = rand(s.out * s.in, 0.05),
    dy = rand(T * s.out, 1);
  const y = new Float32Array(T * s.out),
    dx = new Float32Array(T * s.in);
  const x16 = k.f32ToBf16(x),
    w16 = k.f32ToBf16(w),
    dy16 = k.f32ToBf16(dy);
  // forward y = x W^T (transB), input gradient dx = dy W (no transposes)
  const fwd = { transA: false, transB: true, M: T, N: s.out, K: s.in };
  const bwd = { transA: false, transB: false, M: T, N: s.in, K: s.out, beta: 1 };
  // sgemm: what kern::sgemm picks; the built-in kernel; OpenBLAS in one single-threaded call (for comparison).
  const variants: Array<[string, object, string]> = [
    ['sgemm', {}, info.sgemmLibrary],
    ['sgemm_builtin', { builtin: true }, 'builtin-blocked'],
  ];
  if (info.openblasLinked) variants.push(['sgemm_openblas_1thread', { openblas: true }, 'openblas']);
  for (const [name, opt, impl] of variants) {
    if (!want(name)) continue;
    emit(
      name,
      shape,
      'forward',
      flops,
      best(() => k.sgemm({ ...fwd, ...opt, A: x, B: w, C: y })),
      impl,
    );
    emit(
      name,
      shape,
      'backward_input',
      flops,
      best(() => k.sgemm({ ...bwd, ...opt, A: dy, B: w, C: dx })),
      impl,
    );
  }
  if (want('gemm_bf16')) {
    emit(
      'gemm_bf16',
      shape,
      'forward',
      flops,
      best(() => k.gemmBf16({ ...fwd, A: x16, B: w16, C: y })),
      k.gemmBf16Impl(fwd),
    );
    emit(
      'gemm_bf16',
      shape,
      'backward_input',
      flops,
      best(() => k.gemmBf16({ ...bwd, A: dy16, B: w16, C: dx })),
      k.gemmBf16Impl(bwd),
    );
  }
  if (!s.linear) continue;
  for (const storage of ['nf4', 'bf16', 'f32'])
    for (const compute of ['bf16', 'fp32']) {
      const name = `linear_${storage}_${compute}`;
      if (!want(name)) continue;
      const h = k.frozenLinear({ w, out: s.out, in: s.in, storage });
      const impl = compute === 'bf16' ? `gemm_bf16 ${k.gemmBf16Impl(fwd)}` : 'sgemm';
      emit(
        name,
        shape,
        'forward',
        flops,
        best(() => k.frozenLinearForward(h, x, T, compute, y)),
        impl,
      );
      emit(
        name,
        shape,
        'backward_input',
        flops,
        best(() => k.frozenLinearBackward(h, dx, dy, T, compute)),
        impl,
      );
    }
}

// Attention forward (ops.attention without dout) and forward + backward. The wall time includes the binding's
// allocation and copies of q/k/v and of the outputs (a few ms at this shape, page faults included): use it to compare
// builds, and the engine bench's profile_ms_per_step.attention for what a training step spends.
{
  const c = { batch: 4, T: T / 4, pos0: 0, nh: 9, nkv: 3, hd: 64, window: 0 };
  const shape = `attention [batch ${c.batch}, T ${c.T}, heads ${c.nh}/${c.nkv}, hd ${c.hd}, causal]`;
  const nq = c.batch * c.T * c.nh * c.hd,
    nk = c.batch * c.T * c.nkv * c.hd;
  const q = rand(nq, 1),
    kk = rand(nk, 1),
    v = rand(nk, 1),
    dout = rand(nq, 1);
  const scores = (c.batch * c.nh * (c.T * (c.T + 1))) / 2; // visible (query, key) pairs
  for (const bf16 of [true, false]) {
    const name = `attention_${bf16 ? 'bf16' : 'fp32'}`;
    if (!want(name)) continue;
    const impl = bf16 ? 'bf16 mode (AVX512-BF16 kernel where built, else blocked gemm_bf16)' : 'blocked sgemm';
    emit(
      name,
      shape,
      'forward',
      4 * c.hd * scores,
      best(() => addon.ops.attention({ ...c, q, k: kk, v, bf16 })),
      impl,
    );
    emit(
      name,
      shape,
      'forward_backward',
      14 * c.hd * scores,
      best(() => addon.ops.attention({ ...c, q, k: kk, v, dout, bf16 })),
      impl,
    );
  }
}
