// T5 inference: scoring (log-probabilities of decoder ids given encoder ids, optionally all logits) and generation
// (encoder once, decoder from decoder_start_token_id with self- and cross-attention K/V caches; greedy or sampled).
#pragma once
#include <atomic>
#include <cstdint>
#include <vector>
#include "generate.h"
#include "t5/t5_model.h"

namespace peft::t5 {

// logprobs[t] = log softmax(logits[t])[dec[t+1]] for t < Td-1; logits [Td, V] when non-null.
void t5_score(const T5Model& m, const T5Stack& st, const std::vector<int32_t>& enc, const std::vector<int32_t>& dec,
              std::vector<float>& logprobs, std::vector<float>* logits);
// logprobs[t] = log softmax(logits[t])[labels[t]] (seq2seq: position t predicts labels[t]; 0 where labels[t] < 0).
void t5_score_labels(const T5Model& m, const T5Stack& st, const std::vector<int32_t>& enc,
                     const std::vector<int32_t>& dec, const std::vector<int32_t>& labels, std::vector<float>& logprobs);
// New ids (decoder_start excluded), stopping after an eos id (kept) or max_tokens.
std::vector<int32_t> t5_generate(const T5Model& m, const T5Stack& st, const std::vector<int32_t>& enc,
                                 const GenOptions& opt, const std::atomic<bool>* cancel);

} // namespace peft::t5
