// Generation with a KV cache (prefill once, then one token per forward) and sequence scoring.
#include "generate.h"
#include <algorithm>
#include <cmath>
#include <numeric>
#include "error.h"
#include "moe/moe.h"
#include "rng.h"

namespace peft {

int sample_token(float* logits, int V, const GenOptions& opt, Rng& rng) {
  if (opt.temperature <= 0.f) return (int)(std::max_element(logits, logits + V) - logits); // first max, as torch.argmax
  std::vector<int> idx(V);
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return logits[a] > logits[b]; });
  int keep = V;
  if (opt.top_k > 0) keep = std::min(keep, opt.top_k);
  std::vector<double> p(keep);
  const double mx = logits[idx[0]] / (double)opt.temperature;
  double sum = 0;
  for (int i = 0; i < keep; i++) sum += p[i] = std::exp(logits[idx[i]] / (double)opt.temperature - mx);
  for (auto& x : p) x /= sum;
  if (opt.top_p < 1.f) { // smallest prefix whose mass reaches top_p (at least one token)
    double c = 0;
    int n = 0;
    while (n < keep) {
      c += p[n++];
      if (c >= opt.top_p) break;
    }
    keep = n;
    double s = 0;
    for (int i = 0; i < keep; i++) s += p[i];
    for (int i = 0; i < keep; i++) p[i] /= s;
  }
  double u = rng.uniform(), c = 0;
  for (int i = 0; i < keep; i++) {
    c += p[i];
    if (u < c) return idx[i];
  }
  return idx[keep - 1];
}

// logits = h W^T for one row: a matrix-vector product over the vocabulary, the head streamed once.
static void last_logits(const LlamaModel& m, const Workspace& ws, int row, std::vector<float>& out) {
  out.resize(m.cfg.vocab_size);
  m.be().gemv_rows_f32(m.head(), m.cfg.vocab_size, m.H(), ws.lnf + (size_t)row * m.H(), 1, out.data());
}

std::vector<int32_t> generate(const LlamaModel& m, const AdapterStack& st, const std::vector<int32_t>& prompt,
                              const GenOptions& opt, const std::atomic<bool>* cancel) {
  if (prompt.empty()) throw EngineError("E_ENGINE", "generate: the prompt is empty (at least one token id is needed)");
  const int P = (int)prompt.size();
  KVCache cache;
  cache.init(m, P + opt.max_tokens);
  Workspace pre, one;
  pre.plan(m, st, 1, P, false, false);
  llama_forward(m, st, pre, prompt.data(), 1, P, &cache);
  std::vector<float> logits;
  last_logits(m, pre, P - 1, logits);
  one.plan(m, st, 1, 1, false, false);
  Rng rng(opt.seed);
  std::vector<int32_t> out;
  for (int i = 0; i < opt.max_tokens; i++) {
    if (cancel && cancel->load()) throw EngineError("E_CANCELLED", "generation cancelled");
    const int32_t id = sample_token(logits.data(), m.cfg.vocab_size, opt, rng);
    out.push_back(id);
    if (std::find(opt.eos.begin(), opt.eos.end(), id) != opt.eos.end()) break;
    if (i + 1 == opt.max_tokens) break;
    llama_forward(m, st, one, &id, 1, 1, &cache);
    last_logits(m, one, 0, logits);
  }
  return out;
}

void score_sequence(const LlamaModel& m, const AdapterStack& st, const std::vector<int32_t>& ids,
                    std::vector<float>& logprobs, std::vector<float>* logits, std::vector<int32_t>* routing) {
  const int n = (int)ids.size();
  if (n < 1) throw EngineError("E_ENGINE", "score: the sequence is empty");
  Workspace ws;
  ws.plan(m, st, 1, n, false, false);
  if (routing && ws.moe) ws.moe->record = routing;
  llama_forward(m, st, ws, ids.data(), 1, n, nullptr);
  std::vector<int32_t> targets(n, -1);
  for (int t = 0; t + 1 < n; t++) targets[t] = ids[t + 1];
  std::vector<float> lp(n);
  if (logits) logits->resize((size_t)n * m.cfg.vocab_size);
  m.be().logprobs_forward(lp.data(), logits ? logits->data() : nullptr, ws.lnf, m.head(), targets.data(), n, m.H(),
                          m.cfg.vocab_size);
  logprobs.assign(lp.begin(), lp.begin() + (n - 1));
}

} // namespace peft
