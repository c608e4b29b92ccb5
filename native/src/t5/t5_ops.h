// T5's own compute pieces (fp32, CPU): relative position buckets and the bias they give, attention with an additive
// bias and no 1/sqrt(d) scaling (bidirectional, causal, or cross), and the gated-GELU (gelu_new) feed-forward product.
#pragma once
#include <cstddef>
#include <vector>

namespace peft::t5 {

// T5Attention._relative_position_bucket for rel = key - query (log part in float32, as transformers computes it).
int relative_bucket(int rel, bool bidirectional, int num_buckets, int max_distance);
// bias [nh, Tq, Tk] = table[bucket(k - (q0 + i)), h] for queries at positions q0.. and keys at 0..Tk-1.
void position_bias(std::vector<float>& bias, const float* table, int nh, int Tq, int Tk, int q0, bool bidirectional,
                   int num_buckets, int max_distance);

struct AttnDims {
  int Tq, Tk, nh, dk;
  int q0;      // position of query 0 (causal: query i sees keys j <= q0 + i)
  bool causal; // false: every key visible (encoder, cross-attention)
};
// out [Tq, nh*dk] = softmax(q k^T + bias) v per head; P [nh, Tq, Tk] the probabilities (saved for the backward).
void attention_forward(float* out, float* P, const float* q, const float* k, const float* v, const float* bias,
                       const AttnDims& d);
// dq = dS k (=), dk += dS^T q, dv += P^T dout, with dS = P (dP - rowsum(dP P)), dP = dout v^T.
void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* P, const float* q,
                        const float* k, const float* v, const AttnDims& d);

// h = gelu_new(g) * u (n values).
void gated_gelu_forward(float* h, const float* g, const float* u, size_t n);
// dg = dh * u * gelu_new'(g), du = dh * gelu_new(g) (both =).
void gated_gelu_backward(float* dg, float* du, const float* dh, const float* g, const float* u, size_t n);

} // namespace peft::t5
