// Decode-row attention (see decode_attention.h): one row runs ops::attention_forward as is (its heads over the pool);
// several rows split over the pool, each row's attention_forward then running serially inside its task (a nested
// parallel_for runs inline), one region for the step's decode rows instead of one per sequence.
#include "decode/decode_attention.h"
#include "kernels/kernels.h"
#include "ops/ops.h"

namespace peft::decode {

namespace {

void one(const AttnRow& r, int nh, int nkv, int hd, int window) {
  ops::AttnShape sh{1, r.pos + 1, r.pos, nh, nkv, hd, window, nh * hd, nkv * hd};
  sh.batch = 1;
  sh.bf16 = false; // a single query row runs in fp32 (as llama_forward runs rows below 32)
  ops::attention_forward(r.out, nullptr, r.q, r.kc, r.vc, sh);
}

} // namespace

void attention_rows(const AttnRow* rows, int n, int nh, int nkv, int hd, int window) {
  if (n == 1) return one(rows[0], nh, nkv, hd, window);
  kern::parallel_for_dynamic(n, [&](int b, int e) {
    for (int i = b; i < e; i++) one(rows[i], nh, nkv, hd, window);
  });
}

} // namespace peft::decode
