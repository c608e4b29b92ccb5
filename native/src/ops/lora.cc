// LoRA side path y += s * B(A(dropout(x))) and its backward to A, B and the input; counter-based dropout masks.
#include <algorithm>
#include <cstring>
#include <vector>
#include "kernels/kernels.h"
#include "kernels/threads_internal.h"
#include "ops/ops.h"

namespace peft::ops {

// Row-separable products (row t of the result needs only row t of the inputs) over the pool as one region: each
// thread takes a contiguous share of the N rows and runs its products serially (the same sums, in the same order, as
// one parallel product each: one pool hand-off instead of one per product). Small products run inline.
template <typename F>
static void over_row_shares(int N, size_t work, F fn) {
  const int P = kern::threads();
  if (P <= 1 || N < 2 * P || work < (1u << 18) || kern::in_parallel_region()) return fn(0, N);
  kern::parallel_for(P, [&](int b, int e) {
    for (int p = b; p < e; p++) {
      const int t0 = (int)((long long)N * p / P), t1 = (int)((long long)N * (p + 1) / P);
      if (t1 > t0) fn(t0, t1);
    }
  });
}

void lora_forward(float* y, float* u, const float* x, const float* A, const float* B, int N, int in, int out, int r,
                  float scale) {
  if (N == 0) return;
  over_row_shares(N, (size_t)N * r * (in + out), [&](int t0, int t1) {
    const int n = t1 - t0;
    float* ut = u + (size_t)t0 * r;
    kern::sgemm(false, true, n, r, in, 1.f, x + (size_t)t0 * in, in, A, in, 0.f, ut, r);     // u = x A^T
    kern::sgemm(false, true, n, out, r, scale, ut, r, B, r, 1.f, y + (size_t)t0 * out, out); // y += s u B^T
  });
}

void lora_backward_input(float* dx, float* du, const float* dy, const float* A, const float* B, int N, int in, int out,
                         int r, float scale) {
  if (N == 0) return;
  // du[N,r] = s dy B, and dx[N,in] += du A in the same region (both row-separable)
  over_row_shares(N, (size_t)N * r * (in + out), [&](int t0, int t1) {
    const int n = t1 - t0;
    float* dut = du + (size_t)t0 * r;
    kern::sgemm(false, false, n, r, out, scale, dy + (size_t)t0 * out, out, B, r, 0.f, dut, r);
    if (dx) kern::sgemm(false, false, n, in, r, 1.f, dut, r, A, in, 1.f, dx + (size_t)t0 * in, in);
  });
}

void lora_weight_grads(float* dA, float* dB, const float* du, const float* dy, const float* x, const float* u, int N,
                       int in, int out, int r, float scale, float* dAT) {
  if (N == 0 || (!dA && !dB)) return;
  // The weight gradients (sums over the N rows) in one region: share p of dB's rows [out] and share p of dA's
  // columns [in] per task, each product run serially (the same sums as one parallel product each).
  const int P = kern::threads();
  const bool split =
      P > 1 && out >= 2 * P && in >= 2 * P && (size_t)N * r * (in + out) >= (1u << 18) && !kern::in_parallel_region();
  const int parts = split ? P : 1;
  auto grads = [&](int p) {
    const int o0 = (int)((long long)out * p / parts), o1 = (int)((long long)out * (p + 1) / parts);
    const int i0 = (int)((long long)in * p / parts), i1 = (int)((long long)in * (p + 1) / parts);
    if (dB && o1 > o0) // dB[out,r] += s dy^T u
      kern::sgemm(true, false, o1 - o0, r, N, scale, dy + o0, out, u, r, 1.f, dB + (size_t)o0 * r, r);
    if (!dA || i1 <= i0) return;
    if (dAT) {
      // dA^T[in,r] = x^T du: a narrow product (r columns) that the narrow-sgemm path runs ~6x faster than the
      // 16-row du^T x; then added transposed into dA (this share's columns).
      kern::sgemm(true, false, i1 - i0, r, N, 1.f, x + i0, in, du, r, 0.f, dAT + (size_t)i0 * r, r);
      for (int k = 0; k < r; k++)
        for (int i = i0; i < i1; i++) dA[(size_t)k * in + i] += dAT[(size_t)i * r + k];
    } else { // dA[r,in] += du^T x
      kern::sgemm(true, false, r, i1 - i0, N, 1.f, du, r, x + i0, in, 1.f, dA + i0, in);
    }
  };
  if (split)
    kern::parallel_for(parts, [&](int b, int e) {
      for (int p = b; p < e; p++) grads(p);
    });
  else
    grads(0);
}

void lora_backward(float* dA, float* dB, float* dx, float* du, const float* dy, const float* x, const float* u,
                   const float* A, const float* B, int N, int in, int out, int r, float scale, float* dAT) {
  lora_backward_input(dx, du, dy, A, B, N, in, out, r, scale);
  lora_weight_grads(dA, dB, du, dy, x, u, N, in, out, r, scale, dAT);
}

// splitmix64 of (seed, stream, index): a keep/drop decision that needs no state, so backward and
// recomputation regenerate exactly the forward's mask.
static inline bool keep(uint64_t seed, uint64_t stream, uint64_t i, float p) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull ^ (stream + 0x632BE59BD9B4E019ull) * 0xBF58476D1CE4E5B9ull ^ i;
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (float)((z >> 40) * (1.0 / 16777216.0)) >= p;
}

// The masks depend only on (seed, stream, index), so the pool splits the elements in chunks: the same bits at any
// thread count.
static constexpr size_t DROP_CHUNK = 1 << 14;

// One range of the inverted-dropout output (plain pointers, so the loop vectorises).
static void drop_range(float* __restrict out, const float* __restrict x, size_t lo, size_t hi, float p, float inv,
                       uint64_t seed, uint64_t stream) {
  for (size_t i = lo; i < hi; i++) out[i - lo] = keep(seed, stream, i, p) ? x[i] * inv : 0.f;
}

void dropout_forward(float* out, const float* x, size_t n, float p, uint64_t seed, uint64_t stream) {
  const float inv = 1.f / (1.f - p);
  par_chunks(n, DROP_CHUNK, [&](size_t lo, size_t hi) { drop_range(out + lo, x, lo, hi, p, inv, seed, stream); });
}

void dropout_forward_bf16(uint16_t* out, const float* x, size_t n, float p, uint64_t seed, uint64_t stream) {
  const float inv = 1.f / (1.f - p);
  par_chunks(n, DROP_CHUNK, [&](size_t lo, size_t hi) {
    thread_local std::vector<float> tmp(DROP_CHUNK);
    drop_range(tmp.data(), x, lo, hi, p, inv, seed, stream);
    kern::f32_to_bf16(tmp.data(), out + lo, hi - lo);
  });
}

static void undrop_range(float* __restrict dx, const float* __restrict dout, size_t lo, size_t hi, float p, float inv,
                         uint64_t seed, uint64_t stream) {
  for (size_t i = lo; i < hi; i++) dx[i] += keep(seed, stream, i, p) ? dout[i] * inv : 0.f;
}

void dropout_backward(float* dx, const float* dout, size_t n, float p, uint64_t seed, uint64_t stream) {
  const float inv = 1.f / (1.f - p);
  par_chunks(n, DROP_CHUNK, [&](size_t lo, size_t hi) { undrop_range(dx, dout, lo, hi, p, inv, seed, stream); });
}

} // namespace peft::ops

namespace peft::ops {
void par_rows(int n, size_t work_per_row, const std::function<void(int, int)>& fn) {
  if (n <= 0) return;
  if ((size_t)n * work_per_row < 65536 || kern::threads() <= 1)
    fn(0, n);
  else
    kern::parallel_for(n, fn);
}

void rows_to_bf16(const float* src, int lds, int N, int cols, uint16_t* dst, int ldd) {
  par_rows(N, (size_t)cols, [&](int b, int e) {
    for (int t = b; t < e; t++) kern::f32_to_bf16(src + (size_t)t * lds, dst + (size_t)t * ldd, (size_t)cols);
  });
}
} // namespace peft::ops
