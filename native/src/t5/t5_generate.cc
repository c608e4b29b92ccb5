// T5 scoring and cached generation (the encoder runs once; see t5_forward.h for the caches).
#include "t5/t5_generate.h"
#include <algorithm>
#include <cmath>
#include <numeric>
#include "error.h"
#include "rng.h"
#include "t5/t5_forward.h"

namespace peft::t5 {

void t5_score_labels(const T5Model& m, const T5Stack& st, const std::vector<int32_t>& enc,
                     const std::vector<int32_t>& dec, const std::vector<int32_t>& labels,
                     std::vector<float>& logprobs) {
  if (labels.size() != dec.size()) throw EngineError("E_ENGINE", "t5 score: labels must be as long as decoder ids");
  T5Pass p;
  t5_encode(m, st, enc.data(), (int)enc.size(), p);
  t5_decode(m, st, dec.data(), (int)dec.size(), p);
  for (int32_t t : labels)
    if (t >= m.cfg.vocab_size) throw EngineError("E_ENGINE", "t5 score: a label is outside the vocabulary");
  logprobs.assign(dec.size(), 0.f);
  m.be().logprobs_forward(logprobs.data(), nullptr, p.dec_h.data(), m.head(), labels.data(), (int)dec.size(), m.D(),
                          m.cfg.vocab_size);
}

void t5_score(const T5Model& m, const T5Stack& st, const std::vector<int32_t>& enc, const std::vector<int32_t>& dec,
              std::vector<float>& logprobs, std::vector<float>* logits) {
  T5Pass p;
  t5_encode(m, st, enc.data(), (int)enc.size(), p);
  t5_decode(m, st, dec.data(), (int)dec.size(), p);
  const int Td = (int)dec.size(), V = m.cfg.vocab_size;
  std::vector<int32_t> targets(Td, -1);
  for (int t = 0; t + 1 < Td; t++) targets[t] = dec[t + 1];
  std::vector<float> lp(Td);
  if (logits) logits->resize((size_t)Td * V);
  m.be().logprobs_forward(lp.data(), logits ? logits->data() : nullptr, p.dec_h.data(), m.head(), targets.data(), Td,
                          m.D(), V);
  logprobs.assign(lp.begin(), lp.begin() + (Td - 1));
}

T5Session::T5Session(const T5Model& m, T5Stack st, GenOptions opt, int top_logprobs)
    : m_(m), st_(std::move(st)), opt_(std::move(opt)), top_(top_logprobs), rng_(opt_.seed) {
  if (top_ < 0 || top_ > m_.cfg.vocab_size) throw EngineError("E_USAGE", "t5 session: top_logprobs out of range");
}

void T5Session::start(const std::vector<int32_t>& enc) {
  if (enc.empty()) throw EngineError("E_USAGE", "t5 session: the encoder input is empty");
  done_ = opt_.max_tokens <= 0;
  if (done_) return;
  T5Pass p;
  t5_encode(m_, st_, enc.data(), (int)enc.size(), p);
  t5_cache_init(m_, st_, p, opt_.max_tokens, c_);
  last_ = m_.cfg.decoder_start_token_id;
}

T5Token T5Session::next() {
  if (done_) throw EngineError("E_USAGE", "t5 session: the generation has finished");
  const int V = m_.cfg.vocab_size;
  t5_decode_step(m_, st_, c_, last_, logits_);
  const float* lg = logits_.data();
  double mx = -INFINITY;
  for (int t = 0; t < V; t++) mx = std::max(mx, (double)lg[t]);
  double sum = 0;
  for (int t = 0; t < V; t++) sum += std::exp((double)lg[t] - mx);
  const double lse = mx + std::log(sum);
  T5Token out;
  if (top_ > 0) {
    std::vector<int> idx(V);
    std::iota(idx.begin(), idx.end(), 0);
    std::partial_sort(idx.begin(), idx.begin() + top_, idx.end(),
                      [&](int a, int b) { return lg[a] > lg[b] || (lg[a] == lg[b] && a < b); });
    for (int j = 0; j < top_; j++) {
      out.top_ids.push_back(idx[j]);
      out.top_logprobs.push_back((float)(lg[idx[j]] - lse));
    }
  }
  out.token = sample_token(logits_.data(), V, opt_, rng_);
  out.logprob = (float)(lg[out.token] - lse);
  last_ = out.token;
  produced_++;
  if (std::find(opt_.eos.begin(), opt_.eos.end(), out.token) != opt_.eos.end())
    out.finish = "stop";
  else if (produced_ >= opt_.max_tokens)
    out.finish = "length";
  done_ = out.finish != nullptr;
  return out;
}

std::vector<int32_t> t5_generate(const T5Model& m, const T5Stack& st, const std::vector<int32_t>& enc,
                                 const GenOptions& opt, const std::atomic<bool>* cancel) {
  std::vector<int32_t> out;
  T5Session s(m, st, opt);
  s.start(enc);
  while (!s.done()) {
    if (cancel && cancel->load()) throw EngineError("E_CANCELLED", "generation cancelled");
    out.push_back(s.next().token);
  }
  return out;
}

} // namespace peft::t5
