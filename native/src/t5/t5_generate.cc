// T5 scoring and cached generation (the encoder runs once; see t5_forward.h for the caches).
#include "t5/t5_generate.h"
#include <algorithm>
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

std::vector<int32_t> t5_generate(const T5Model& m, const T5Stack& st, const std::vector<int32_t>& enc,
                                 const GenOptions& opt, const std::atomic<bool>* cancel) {
  std::vector<int32_t> out;
  if (opt.max_tokens <= 0) return out;
  T5Pass p;
  t5_encode(m, st, enc.data(), (int)enc.size(), p);
  T5DecodeCache c;
  t5_cache_init(m, st, p, opt.max_tokens, c);
  Rng rng(opt.seed);
  std::vector<float> logits;
  int32_t tok = m.cfg.decoder_start_token_id;
  for (int i = 0; i < opt.max_tokens; i++) {
    if (cancel && cancel->load()) throw EngineError("E_CANCELLED", "generation cancelled");
    t5_decode_step(m, st, c, tok, logits);
    tok = sample_token(logits.data(), m.cfg.vocab_size, opt, rng);
    out.push_back(tok);
    if (std::find(opt.eos.begin(), opt.eos.end(), tok) != opt.eos.end()) break;
  }
  return out;
}

} // namespace peft::t5
