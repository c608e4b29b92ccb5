// LoRA side paths of a group of projections sharing one input, in bf16 compute: bf16 operands, fp32 accumulation;
// the B-side forward and A-side input-gradient products ride along in the frozen matmuls (see ops.h).
#include <algorithm>
#include <cstring>
#include <vector>
#include "kernels/bf16_inline.h"
#include "kernels/kernels.h"
#include "ops/ops.h"

namespace peft::ops {

namespace {

// Reused per-thread buffers (the orchestrating thread calls these; products parallelise inside gemm_bf16).
struct Buffers {
  std::vector<uint16_t> A16, E16, B16, uT16, duT16, du16;
  std::vector<float> dBT, dA;
};
Buffers& buffers() {
  thread_local Buffers b;
  return b;
}

template <typename T>
T* sized(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

// dst[c, t] = bf16(src[t, c0 + c]) for t < N, c < cols: a column block of src [N, ld] transposed.
void transpose_to_bf16(const float* src, int N, int ld, int c0, int cols, uint16_t* dst) {
  par_rows(cols, (size_t)N, [&](int b, int e) {
    for (int c = b; c < e; c++) {
      uint16_t* d = dst + (size_t)c * N;
      const float* s = src + c0 + c;
      for (int t = 0; t < N; t++) d[t] = kern::f32_to_bf16_one(s[(size_t)t * ld]);
    }
  });
}

} // namespace

// u_cat [N, g r] to bf16 into xa16's last g r columns, and each projection's u into lus[j].
static void finish_project(const LoraGroup& G, uint16_t* xa16, int N, const float* ucat, float* const* lus) {
  const int gr = G.g * G.r, lda = G.in + gr;
  rows_to_bf16(ucat, gr, N, gr, xa16 + G.in, lda);
  for (int j = 0; j < G.g; j++)
    if (lus[j])
      for (int t = 0; t < N; t++)
        std::memcpy(lus[j] + (size_t)t * G.r, ucat + (size_t)t * gr + j * G.r, G.r * sizeof(float));
}

void lora_group_project_bf16(const LoraGroup& G, uint16_t* xa16, int N, float* ucat, float* const* lus) {
  if (N == 0) return;
  const int gr = G.g * G.r, lda = G.in + gr;
  const size_t an = (size_t)G.r * G.in;
  uint16_t* A16 = sized(buffers().A16, an * G.g);
  for (int j = 0; j < G.g; j++) kern::f32_to_bf16(G.A[j], A16 + an * j, an);
  kern::gemm_bf16(false, true, N, gr, G.in, 1.f, xa16, lda, A16, G.in, 0.f, ucat, gr); // u_cat = x A_cat^T
  finish_project(G, xa16, N, ucat, lus);
}

void lora_group_project_dropout_bf16(const LoraGroup& G, uint16_t* xa16, const uint16_t* const* xd16, int N,
                                     float* ucat, float* const* lus) {
  if (N == 0) return;
  const int gr = G.g * G.r;
  const size_t an = (size_t)G.r * G.in;
  uint16_t* A16 = sized(buffers().A16, an);
  for (int j = 0; j < G.g; j++) { // u_j = dropout_j(x) A_j^T, each projection from its own dropped input
    kern::f32_to_bf16(G.A[j], A16, an);
    kern::gemm_bf16(false, true, N, G.r, G.in, 1.f, xd16[j], G.in, A16, G.in, 0.f, ucat + j * G.r, gr);
  }
  finish_project(G, xa16, N, ucat, lus);
}

const uint16_t* lora_extra_cols_bf16(const LoraGroup& G, int j) {
  const int out = G.outs[j], r = G.r, gr = G.g * r;
  uint16_t* E = sized(buffers().E16, (size_t)out * gr);
  std::memset(E, 0, (size_t)out * gr * sizeof(uint16_t));
  const float* B = G.B[j];
  for (int o = 0; o < out; o++)
    for (int k = 0; k < r; k++) E[(size_t)o * gr + j * r + k] = kern::f32_to_bf16_one(G.scale * B[(size_t)o * r + k]);
  return E;
}

void lora_out_backward_bf16(const LoraGroup& G, int j, const uint16_t* dy16, int lddy, const float* u, int N, float* dB,
                            float* du_cat, uint16_t* du16, int lddu) {
  if (N == 0) return;
  Buffers& bf = buffers();
  const int out = G.outs[j], r = G.r, gr = G.g * r;
  uint16_t* b16 = sized(bf.B16, (size_t)out * r);
  kern::f32_to_bf16(G.B[j], b16, (size_t)out * r);
  kern::gemm_bf16(false, false, N, r, out, G.scale, dy16, lddy, b16, r, 0.f, du_cat + j * r, gr); // du = s dy B
  if (du16) rows_to_bf16(du_cat + j * r, gr, N, r, du16, lddu);
  uint16_t* uT = sized(bf.uT16, (size_t)r * N);
  transpose_to_bf16(u, N, r, 0, r, uT);
  float* dBT = sized(bf.dBT, (size_t)r * out);
  kern::gemm_bf16(false, false, r, out, N, G.scale, uT, N, dy16, lddy, 0.f, dBT, out); // dB^T = s u^T dy
  for (int o = 0; o < out; o++)
    for (int k = 0; k < r; k++) dB[(size_t)o * r + k] += dBT[(size_t)k * out + o];
}

const uint16_t* lora_A_bf16(const LoraGroup& G) {
  const size_t an = (size_t)G.r * G.in;
  uint16_t* a = sized(buffers().A16, an * G.g);
  for (int j = 0; j < G.g; j++) kern::f32_to_bf16(G.A[j], a + an * j, an);
  return a;
}

void lora_in_backward_bf16(const LoraGroup& G, const uint16_t* x16, int ldx, const float* du_cat, int N,
                           float* const* dA) {
  if (N == 0) return;
  Buffers& bf = buffers();
  const int gr = G.g * G.r;
  const size_t an = (size_t)G.r * G.in;
  uint16_t* duT = sized(bf.duT16, (size_t)gr * N);
  transpose_to_bf16(du_cat, N, gr, 0, gr, duT);
  float* dAcat = sized(bf.dA, an * G.g);
  kern::gemm_bf16(false, false, gr, G.in, N, 1.f, duT, N, x16, ldx, 0.f, dAcat, G.in); // dA_cat = du_cat^T x
  for (int j = 0; j < G.g; j++)
    for (size_t i = 0; i < an; i++) dA[j][i] += dAcat[an * j + i];
}

void lora_in_backward_one_bf16(const LoraGroup& G, int j, const uint16_t* xd16, const float* du_cat, int N, float* dA,
                               float* dxd) {
  if (N == 0) return;
  Buffers& bf = buffers();
  const int r = G.r, gr = G.g * r;
  const size_t an = (size_t)r * G.in;
  uint16_t* duT = sized(bf.duT16, (size_t)r * N);
  transpose_to_bf16(du_cat, N, gr, j * r, r, duT);
  float* dAj = sized(bf.dA, an);
  kern::gemm_bf16(false, false, r, G.in, N, 1.f, duT, N, xd16, G.in, 0.f, dAj, G.in); // dA_j = du_j^T dropout_j(x)
  for (size_t i = 0; i < an; i++) dA[i] += dAj[i];
  uint16_t* du16 = sized(bf.du16, (size_t)N * r);
  rows_to_bf16(du_cat + j * r, gr, N, r, du16, r);
  uint16_t* A16 = sized(bf.A16, an);
  kern::f32_to_bf16(G.A[j], A16, an);
  kern::gemm_bf16(false, false, N, G.in, r, 1.f, du16, r, A16, G.in, 0.f, dxd, G.in); // d(dropout_j(x)) = du_j A_j
}

} // namespace peft::ops
