// LoRA side paths of a group of projections sharing one input, in bf16 compute: bf16 operands, fp32 accumulation.
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
  std::vector<uint16_t> A16, B16, u16, uT16, du16, duT16;
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

// A_cat [g r, in] in bf16.
const uint16_t* stacked_A16(const LoraGroup& G) {
  const size_t n = (size_t)G.r * G.in;
  uint16_t* a = sized(buffers().A16, n * G.g);
  for (int j = 0; j < G.g; j++) kern::f32_to_bf16(G.A[j], a + n * j, n);
  return a;
}

} // namespace

void lora_group_forward_bf16(const LoraGroup& G, const uint16_t* x16, int N, float* const* ys, float* const* lus,
                             float* ucat) {
  if (N == 0) return;
  Buffers& bf = buffers();
  const int gr = G.g * G.r;
  kern::gemm_bf16(false, true, N, gr, G.in, 1.f, x16, G.in, stacked_A16(G), G.in, 0.f, ucat, gr); // u = x A_cat^T
  uint16_t* u16 = sized(bf.u16, (size_t)N * gr);
  par_rows(N, (size_t)gr, [&](int b, int e) { kern::f32_to_bf16(ucat + (size_t)b * gr, u16 + (size_t)b * gr, (size_t)(e - b) * gr); });
  for (int j = 0; j < G.g; j++) {
    const int out = G.outs[j];
    uint16_t* b16 = sized(bf.B16, (size_t)out * G.r);
    kern::f32_to_bf16(G.B[j], b16, (size_t)out * G.r);
    kern::gemm_bf16(false, true, N, out, G.r, G.scale, u16 + j * G.r, gr, b16, G.r, 1.f, ys[j], out); // y += s u B^T
    if (lus[j])
      for (int t = 0; t < N; t++) std::memcpy(lus[j] + (size_t)t * G.r, ucat + (size_t)t * gr + j * G.r, G.r * sizeof(float));
  }
}

void lora_out_backward_bf16(const LoraGroup& G, int j, const uint16_t* dy16, const float* u, int N, float* dB,
                            float* du_cat) {
  if (N == 0) return;
  Buffers& bf = buffers();
  const int out = G.outs[j], r = G.r, gr = G.g * r;
  uint16_t* b16 = sized(bf.B16, (size_t)out * r);
  kern::f32_to_bf16(G.B[j], b16, (size_t)out * r);
  kern::gemm_bf16(false, false, N, r, out, G.scale, dy16, out, b16, r, 0.f, du_cat + j * r, gr); // du = s dy B
  uint16_t* uT = sized(bf.uT16, (size_t)r * N);
  transpose_to_bf16(u, N, r, 0, r, uT);
  float* dBT = sized(bf.dBT, (size_t)r * out);
  kern::gemm_bf16(false, false, r, out, N, G.scale, uT, N, dy16, out, 0.f, dBT, out); // dB^T = s u^T dy
  for (int o = 0; o < out; o++)
    for (int k = 0; k < r; k++) dB[(size_t)o * r + k] += dBT[(size_t)k * out + o];
}

void lora_in_backward_bf16(const LoraGroup& G, const uint16_t* x16, const float* du_cat, int N, float* const* dA,
                           float* dx) {
  if (N == 0) return;
  Buffers& bf = buffers();
  const int gr = G.g * G.r;
  const size_t an = (size_t)G.r * G.in;
  uint16_t* duT = sized(bf.duT16, (size_t)gr * N);
  transpose_to_bf16(du_cat, N, gr, 0, gr, duT);
  float* dAcat = sized(bf.dA, an * G.g);
  kern::gemm_bf16(false, false, gr, G.in, N, 1.f, duT, N, x16, G.in, 0.f, dAcat, G.in); // dA_cat = du_cat^T x
  for (int j = 0; j < G.g; j++)
    for (size_t i = 0; i < an; i++) dA[j][i] += dAcat[an * j + i];
  if (!dx) return;
  uint16_t* du16 = sized(bf.du16, (size_t)N * gr);
  par_rows(N, (size_t)gr, [&](int b, int e) { kern::f32_to_bf16(du_cat + (size_t)b * gr, du16 + (size_t)b * gr, (size_t)(e - b) * gr); });
  kern::gemm_bf16(false, false, N, G.in, gr, 1.f, du16, gr, stacked_A16(G), G.in, 1.f, dx, G.in); // dx += du A_cat
}

} // namespace peft::ops
