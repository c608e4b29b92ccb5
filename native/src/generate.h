// Inference on the CPU backend: text generation with a KV cache (greedy / temperature / top-k / top-p, seeded,
// stop on EOS) and scoring (per-token log-probabilities of a sequence, optionally its full logits).
#pragma once
#include <atomic>
#include <cstdint>
#include <vector>
#include "llama.h"

namespace peft {

struct GenOptions {
  int max_tokens = 64;
  float temperature = 0.f; // 0 = greedy
  int top_k = 0;           // 0 = off
  float top_p = 1.f;       // 1 = off
  uint64_t seed = 0;
  std::vector<int> eos; // stop ids (the stop id is kept as the last generated token)
  // When set, generate appends each token's log-probability under the step's logits (Backend::row_log_sum_exp's
  // numbers, as the batched decoder reports them).
  std::vector<float>* logprobs = nullptr;
};

// Returns the generated ids (prompt excluded). Checks `cancel` between tokens (E_CANCELLED).
std::vector<int32_t> generate(const LlamaModel& m, const AdapterStack& st, const std::vector<int32_t>& prompt,
                              const GenOptions& opt, const std::atomic<bool>* cancel);

// Whether decoding takes the batched decoder's bf16 products (bf16 compute on a CPU with AVX512-BF16, a Llama-family
// model without MoE or q-k-norm layers): then generate and the batched decoder run every row of a
// sequence, its prompt's included, through those products, so both give the same numbers.
bool decode_bf16_rows(const LlamaModel& m);
// Whether every row of a sequence, its prompt's included, runs the row products (pooled with the other sequences'
// rows in the batched decoder): the bf16 mode above, and fp32 compute of a Llama-family model whose projections the
// row products all take (NF4 with whole 64-weight blocks per row, fp32). A long prompt then never runs on its own
// through llama_forward (which decoded every NF4 weight once per sequence in a batch): its chunks join the batch's
// tiles, decoded once per step for every sequence's rows.
bool decode_all_rows(const LlamaModel& m);
// In that case a prompt runs in chunks of this many rows, in generate and in the batched decoder alike (which joins
// them with other sequences' steps, so a long prompt never stalls the running ones for its whole prefill).
constexpr int PREFILL_CHUNK = 64;
// fp32 decoding: steps of at most this many rows (every decode row, short prompts) run the register-decoded products
// (Backend::decode_linear_group), steps of more rows below 32 decode/rows_matmul's tiles, here and in the batched
// decoder alike, so a prompt of any length gets the same numbers from both.
constexpr int DECODE_FEW_ROWS = 16;
// Whether decoding runs in the int8 mode (int8 compute, a Llama-family model): the frozen NF4 products of decode rows
// and prompts of at most kern::NF4_GEMV_MAX_ROWS rows in int8 (decode/rows_int8.h) and the head from its int8 copy, in
// generate and in the batched decoder alike; longer prompts through llama_forward in fp32.
bool decode_int8_rows(const LlamaModel& m);
// Whether a step of T rows of one sequence runs the row products (decode rows, short prompts; every row where
// decode_all_rows) or llama_forward (longer prompts; every step of a model the row products cannot take: GPT-2, MoE, q-k-norm
// layers, NF4 widths that are not whole 64-weight blocks). generate and the batched decoder (which pools the rows of
// such segments and runs the others on their own, as llama_forward does) draw this one line.
bool decode_row_path(const LlamaModel& m, int T);

// Picks the next id from logits [V] (modified in place) with the sampling options and rng.
int sample_token(float* logits, int V, const GenOptions& opt, class Rng& rng);

// logprobs[t] = log softmax(logits[t])[ids[t+1]] for t < n-1 (one forward, no cache). logits [n, V] when non-null.
// routing (MoE models): every layer's chosen experts [L, n, k] when non-null; router_logits: every layer's router
// logits [L, n, E] when non-null.
void score_sequence(const LlamaModel& m, const AdapterStack& st, const std::vector<int32_t>& ids,
                    std::vector<float>& logprobs, std::vector<float>* logits, std::vector<int32_t>* routing = nullptr,
                    std::vector<float>* router_logits = nullptr);

} // namespace peft
