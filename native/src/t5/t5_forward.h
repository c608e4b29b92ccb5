// One T5 sequence pair through the model with everything the backward needs kept: the encoder over the source ids,
// the decoder (self-attention causal, cross-attention over the encoder output) over the decoder ids, and the
// backward from the final decoder hidden states to the trainable adapter's gradients (through both stacks).
#pragma once
#include <cstdint>
#include <vector>
#include "t5/t5_model.h"

namespace peft::t5 {

struct SubSave { // one attention sublayer
  std::vector<float> xin, rstd, n, q, k, v, P, att;
  std::vector<float> u[4]; // trainable LoRA x A^T of q, k, v, o
};
struct FFSave {
  std::vector<float> xin, rstd, n, g, u, h;
  std::vector<float> lu[3]; // trainable LoRA x A^T of wi_0, wi_1, wo
};
struct BlockSave {
  SubSave sa, ca;
  FFSave ff;
};

struct T5Pass {
  int Te = 0, Td = 0;
  std::vector<BlockSave> enc, dec;
  std::vector<float> enc_bias, dec_bias;       // [nh, T, T] position bias of each stack
  std::vector<float> enc_x, enc_rstd, enc_out; // [Te, D] last residual, [Te], [Te, D] final-norm output
  std::vector<float> dec_x, dec_rstd, dec_h;   // [Td, D], [Td], [Td, D] final-norm output (x d_model^-0.5 if tied)
};

// Encoder over ids [Te]: fills p.enc_* (and its saved activations).
void t5_encode(const T5Model& m, const T5Stack& st, const int32_t* ids, int Te, T5Pass& p);
// Decoder over ids [Td] against p.enc_out: fills p.dec_*.
void t5_decode(const T5Model& m, const T5Stack& st, const int32_t* ids, int Td, T5Pass& p);
// From dh = d(loss)/d(p.dec_h) [Td, D] back through decoder and encoder; accumulates the trainable adapter's
// gradients into `grad` (same modules as st.train).
void t5_backward(const T5Model& m, const T5Stack& st, T5Pass& p, const float* dh, T5Adapter& grad);

// Incremental decoding (batch 1): the encoder output's cross-attention K / V computed once per decoder layer, the
// self-attention K / V appended per step.
struct T5DecodeCache {
  int Te = 0, len = 0, max_len = 0;
  std::vector<std::vector<float>> ck, cv; // per decoder layer [Te, inner]
  std::vector<std::vector<float>> sk, sv; // per decoder layer [max_len, inner]
};
void t5_cache_init(const T5Model& m, const T5Stack& st, const T5Pass& encoded, int max_len, T5DecodeCache& c);
// One decoder step for token `id` at position c.len; logits [V] of that position. Advances c.len.
void t5_decode_step(const T5Model& m, const T5Stack& st, T5DecodeCache& c, int32_t id, std::vector<float>& logits);

} // namespace peft::t5
