// PyTorch peer benchmark (JSON lines): ../shared/peers/torch_lora_bench.py, SmolLM2-135M shape, LoRA r 16, in fp32
// and --bf16, each with the default OpenMP wait policy and OMP_WAIT_POLICY=PASSIVE, then the best run per mode.
// Skips with a line naming `apt-get install python3-torch` when /usr/bin/python3 cannot import torch.
// Run: `npm run bench peer`. Env: BENCH_PEER_PRESET (smollm2-135m; `small` for a seconds-long smoke run),
// BENCH_PEER_STEPS (up to 3 timed steps), BENCH_PEER_BUDGET_S (45: no new timed step past 45 s of them; at least
// one always runs), BENCH_PEER_WARMUP (1), BENCH_PEER_MODES ("fp32,bf16"), BENCH_PEER_PYTHON.
import { peerBest, type PeerMode } from './lib/peer.ts';
import { cpuFlags, emitJson, loadAverage } from './lib/system.ts';

const preset = process.env.BENCH_PEER_PRESET ?? 'smollm2-135m';
const result = peerBest({
  preset,
  steps: Number(process.env.BENCH_PEER_STEPS ?? 3),
  timeBudgetS: Number(process.env.BENCH_PEER_BUDGET_S ?? 45),
  warmup: Number(process.env.BENCH_PEER_WARMUP ?? 1),
  modes: (process.env.BENCH_PEER_MODES ?? 'fp32,bf16').split(',') as PeerMode[],
  python: process.env.BENCH_PEER_PYTHON,
  onRun: (line) => emitJson({ ...line }),
});
if (result.skipped) {
  emitJson({ bench: 'peer', name: 'peer', skipped: result.skipped, cpu_flags: cpuFlags() });
} else {
  // figures measured by an earlier bench of this same `npm run bench` are printed again, marked reused
  if (result.reused) for (const r of result.runs) emitJson({ ...r, reused: true });
  for (const [mode, b] of Object.entries(result.best)) {
    emitJson({
      bench: 'peer',
      name: 'peer-best',
      mode,
      omp_wait_policy: b.omp_wait_policy,
      tokens_per_s: b.tokens_per_s,
      achieved_gflops: b.achieved_gflops,
      matmul_peak_gflops: b.matmul_peak_gflops,
      peak_rss_mb: b.peak_rss_mb,
      cpu_flags: b.cpu_flags,
      other_procs_cpu_frac: b.other_procs_cpu_frac,
      loadavg: b.loadavg,
      loadavg_now: loadAverage(),
      of_runs: result.runs.filter((r) => r.mode === mode).length,
      reused: result.reused ?? false,
    });
  }
  if (Object.keys(result.best).length === 0) process.exitCode = 1; // every run failed: the error lines say why
}
