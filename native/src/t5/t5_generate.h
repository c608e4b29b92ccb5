// T5 inference: scoring (log-probabilities of decoder ids given encoder ids, optionally all logits) and generation
// (encoder once, decoder from decoder_start_token_id with self- and cross-attention K/V caches; greedy or sampled).
#pragma once
#include <atomic>
#include <cstdint>
#include <vector>
#include "generate.h"
#include "rng.h"
#include "t5/t5_forward.h"
#include "t5/t5_model.h"

namespace peft::t5 {

// logprobs[t] = log softmax(logits[t])[dec[t+1]] for t < Td-1; logits [Td, V] when non-null.
void t5_score(const T5Model& m, const T5Stack& st, const std::vector<int32_t>& enc, const std::vector<int32_t>& dec,
              std::vector<float>& logprobs, std::vector<float>* logits);
// logprobs[t] = log softmax(logits[t])[labels[t]] (seq2seq: position t predicts labels[t]; 0 where labels[t] < 0).
void t5_score_labels(const T5Model& m, const T5Stack& st, const std::vector<int32_t>& enc,
                     const std::vector<int32_t>& dec, const std::vector<int32_t>& labels, std::vector<float>& logprobs);
// One generation step by step (serve streams it): start() runs the encoder once and sizes the self-/cross-attention
// caches; each next() decodes one token. t5_generate is this loop, so a session gives its tokens exactly.
struct T5Token {
  int32_t token = 0;
  float logprob = 0.f;          // log softmax of the raw logits (before temperature / top-k / top-p)
  std::vector<int32_t> top_ids; // the top_logprobs most likely ids, best first
  std::vector<float> top_logprobs;
  const char* finish = nullptr; // "stop" (an eos id), "length" (max_tokens), or null
};
class T5Session {
 public:
  T5Session(const T5Model& m, T5Stack st, GenOptions opt, int top_logprobs = 0);
  void start(const std::vector<int32_t>& enc);
  T5Token next();
  bool done() const { return done_; }

 private:
  const T5Model& m_;
  T5Stack st_;
  GenOptions opt_;
  int top_;
  Rng rng_;
  T5DecodeCache c_;
  std::vector<float> logits_;
  int32_t last_ = 0;
  int produced_ = 0;
  bool done_ = false;
};

// New ids (decoder_start excluded), stopping after an eos id (kept) or max_tokens.
std::vector<int32_t> t5_generate(const T5Model& m, const T5Stack& st, const std::vector<int32_t>& enc,
                                 const GenOptions& opt, const std::atomic<bool>* cancel);

} // namespace peft::t5
