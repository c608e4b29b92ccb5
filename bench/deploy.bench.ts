// Deployment benchmark (JSON lines): generation on a random-init model of SmolLM2-135M's shape, batch 1, 128 new
// tokens after an 8-token prompt, greedy, the same threads for every runtime: the engine (NF4, bf16; both in bf16
// compute: the head and unquantized weights read from bf16 copies, activations in fp32), onnxruntime-node
// on the ONNX export (fp32, fp16) and llama.cpp through node-llama-cpp on the GGUF export (F16, Q4_0), each in its own
// process, interleaved rounds, a run marked invalid under load (bench/lib/generation-compare.ts). Then the ratios the
// issue sets as goals, from the medians and from the rounds (the median of per-round ratios): engine NF4 vs
// llama.cpp Q4_0, engine bf16 vs llama.cpp F16, engine vs the best onnxruntime run.
// Run: `npm run bench deploy`. Env: BENCH_THREADS (default: all cores), BENCH_NEW_TOKENS (128), BENCH_ROUNDS (3),
// BENCH_RUNTIMES (default: all six, e.g. engine:nf4,llama.cpp:Q4_0), BENCH_MAX_OTHER (0.10), PEFT_ISA and
// LLAMA_CPU_VARIANT (the kernels of each side; see the library).
import { availableParallelism } from 'node:os';
import { compareGeneration } from './lib/generation-compare.ts';

await compareGeneration({
  bench: 'deploy',
  // compared pairs next to each other
  runtimes: (process.env.BENCH_RUNTIMES ?? 'engine:nf4,llama.cpp:Q4_0,engine:bf16,llama.cpp:F16,ort:fp32,ort:fp16').split(','),
  pairs: [
    ['engine_nf4_over_llamacpp_q4_0', 'engine:nf4', 'llama.cpp:Q4_0'],
    ['engine_bf16_over_llamacpp_f16', 'engine:bf16', 'llama.cpp:F16'],
    ['engine_best_over_best_onnxruntime', 'best-engine', 'best-ort'],
  ],
  threads: Number(process.env.BENCH_THREADS ?? availableParallelism()),
  newTokens: Number(process.env.BENCH_NEW_TOKENS ?? 128),
  rounds: Number(process.env.BENCH_ROUNDS ?? 3),
  maxOther: Number(process.env.BENCH_MAX_OTHER ?? 0.1),
  goal: 'engine >= llama.cpp at comparable precision (NF4 vs Q4_0, bf16 vs F16); engine > onnxruntime',
});
