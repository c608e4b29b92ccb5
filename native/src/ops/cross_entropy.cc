// Masked causal-LM cross-entropy fused with the output projection, in chunks of rows so the [N, V] logits
// never exist at once; also the per-token log-probabilities used by scoring. The training loss takes its max,
// log-sum-exp and softmax gradient with the active ISA's vectorised exp (kernels/vexp.h) in fp32 and bf16 mode alike:
// the double std::exp loops in the x86-64-v2 common code cost as much as the lm_head product on AVX2.
#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>
#include "kernels/bf16_inline.h"
#include "kernels/kernels.h"
#include "kernels/vexp.h"
#include "ops/ops.h"

namespace peft::ops {

static constexpr int CE_CHUNK = 64; // rows per chunk: CE_CHUNK * V floats of logits live at a time

// bf16 path. The 57 MB bf16 lm_head weight (V = 49152, C = 576) is what limits it: each chunk of rows streams it
// from memory twice (logits, then dh), so the whole pool works on one chunk of CE_CHUNK_BF16 rows at a time, each
// thread on its own slice of the vocabulary (its slice of W is read once per chunk by that thread alone), instead of
// each thread streaming all of W for its own chunk. Measured before on the bench (Zen 4, 2 threads): 32-row chunks
// per thread 564 ms of lm_head+CE per 2048-token step, 128-row chunks per thread 370 ms.
static constexpr int CE_CHUNK_BF16 = 256;
// Vocabulary slices, fixed (not the thread count) so the result does not depend on how many threads run it.
static constexpr int CE_VOCAB_PARTS = 4;

// One chunk: bf16 lm_head matmul per vocabulary slice, vectorised max / logsumexp / softmax gradient per row, bf16
// dlogits, dh as the sum of the slices' partial products in a fixed order; rows no other chunk touches.
static int vocab_parts(int V) { return std::min(CE_VOCAB_PARTS, std::max(1, V / 64)); }

size_t cross_entropy_bf16_work_floats(int N, int C, int V) {
  const size_t ch = (size_t)std::min(CE_CHUNK_BF16, std::max(N, 1));
  return ch * V + (ch * V + 1) / 2 + (size_t)vocab_parts(V) * ch * C + (ch * C + 1) / 2;
}

static double cross_entropy_bf16(float* dh, const float* h, const uint16_t* W16, const int32_t* targets,
                                 const std::vector<int>& rows, int C, int V, float grad_scale, float* work,
                                 size_t work_floats) {
  const int R = (int)rows.size(), P = vocab_parts(V);
  std::vector<int> v0(P + 1);
  for (int p = 0; p <= P; p++) v0[p] = (int)((long long)V * p / P / 16 * 16); // slice starts on 16-column bounds
  v0[P] = V;
  const int CH = std::min(CE_CHUNK_BF16, R);
  // Working memory: the caller's (planned, idle during the loss) when it is large enough, else our own.
  std::vector<float> own;
  const size_t need = cross_entropy_bf16_work_floats(CH, C, V);
  if (!work || work_floats < need) {
    own.resize(need);
    work = own.data();
  }
  float* lg = work;
  uint16_t* dl16 = reinterpret_cast<uint16_t*>(lg + (size_t)CH * V);
  float* part = lg + (size_t)CH * V + ((size_t)CH * V + 1) / 2;
  uint16_t* h16 = reinterpret_cast<uint16_t*>(part + (size_t)P * CH * C);
  std::vector<double> rowloss(R);
  for (int c0 = 0; c0 < R; c0 += CH) {
    const int n = std::min(CH, R - c0);
    par_rows(n, (size_t)C, [&](int b, int e) {
      for (int i = b; i < e; i++) kern::f32_to_bf16(h + (size_t)rows[c0 + i] * C, h16 + (size_t)i * C, C);
    });
    kern::parallel_for(P, [&](int pb, int pe) { // logits = h W^T, slice by slice
      for (int p = pb; p < pe; p++)
        kern::gemm_bf16(false, true, n, v0[p + 1] - v0[p], C, 1.f, h16, C, W16 + (size_t)v0[p] * C, C, 0.f, lg + v0[p],
                        V);
    });
    par_rows(n, (size_t)V, [&](int b, int e) {
      for (int i = b; i < e; i++) {
        float* l = lg + (size_t)i * V;
        const int t = targets[rows[c0 + i]];
        const float mx = kern::vmax(l, V);
        const double lse = mx + std::log(kern::vsumexp(l, V, mx));
        rowloss[c0 + i] = lse - l[t];
        if (dh) {
          kern::vexp_scale(l, V, (float)lse, grad_scale); // softmax * grad_scale
          l[t] -= grad_scale;
          kern::f32_to_bf16(l, dl16 + (size_t)i * V, V);
        }
      }
    });
    if (!dh) continue;
    kern::parallel_for(P, [&](int pb, int pe) { // partial dh per slice = dlogits[:, slice] W[slice]
      for (int p = pb; p < pe; p++)
        kern::gemm_bf16(false, false, n, C, v0[p + 1] - v0[p], 1.f, dl16 + v0[p], V, W16 + (size_t)v0[p] * C, C, 0.f,
                        part + (size_t)p * CH * C, C);
    });
    par_rows(n, (size_t)C * P, [&](int b, int e) {
      for (int i = b; i < e; i++) {
        float* d = dh + (size_t)rows[c0 + i] * C;
        for (int p = 0; p < P; p++) {
          const float* s = part + ((size_t)p * CH + i) * C;
          for (int c = 0; c < C; c++) d[c] += s[c];
        }
      }
    });
  }
  double total = 0;
  for (double l : rowloss) total += l;
  return total;
}

double cross_entropy_forward_backward(float* dh, const float* h, const float* W, const uint16_t* W16,
                                      const int32_t* targets, int N, int C, int V, float grad_scale, float* work,
                                      size_t work_floats) {
  // Gather the rows that have a target: ignored rows cost nothing.
  std::vector<int> rows;
  for (int r = 0; r < N; r++)
    if (targets[r] >= 0) rows.push_back(r);
  if (W16) return cross_entropy_bf16(dh, h, W16, targets, rows, C, V, grad_scale, work, work_floats);
  const int R = (int)rows.size(), nchunks = (R + CE_CHUNK - 1) / CE_CHUNK;
  std::vector<double> rowloss(R);
  // One chunk of rows: logits, loss, softmax gradient and dh, with its own buffers. Rows no other chunk touches.
  auto chunk = [&](int c0, float* hc, float* lg, float* dhc) {
    const int n = std::min(CE_CHUNK, R - c0);
    for (int i = 0; i < n; i++) std::copy_n(h + (size_t)rows[c0 + i] * C, C, hc + (size_t)i * C);
    kern::sgemm(false, true, n, V, C, 1.f, hc, C, W, C, 0.f, lg, V); // logits = h W^T
    par_rows(n, (size_t)V, [&](int b, int e) {
      for (int i = b; i < e; i++) {
        float* l = lg + (size_t)i * V;
        const int t = targets[rows[c0 + i]];
        const float mx = kern::vmax(l, V);
        const double lse = mx + std::log(kern::vsumexp(l, V, mx));
        rowloss[c0 + i] = lse - l[t];
        if (dh) {
          kern::vexp_scale(l, V, (float)lse, grad_scale); // softmax * grad_scale
          l[t] -= grad_scale;
        }
      }
    });
    if (!dh) return;
    kern::sgemm(false, false, n, C, V, 1.f, lg, V, W, C, 0.f, dhc, C); // dh = dlogits W
    for (int i = 0; i < n; i++) {
      float* d = dh + (size_t)rows[c0 + i] * C;
      const float* s = dhc + (size_t)i * C;
      for (int c = 0; c < C; c++) d[c] += s[c];
    }
  };
  const size_t per_chunk = (size_t)CE_CHUNK * (2 * C + V);
  if (nchunks >= 2 * kern::threads()) {
    // Enough chunks for every thread: the pool splits the chunks (one region for the whole loss) and each chunk runs
    // serially on its thread, the same sums as the per-chunk parallel products (whose per-K-block regions numbered
    // thousands per step with the built-in sgemm's 49152-long dh product).
    kern::parallel_for(nchunks, [&](int cb, int ce) {
      std::unique_ptr<float[]> buf(new float[per_chunk]);
      for (int c = cb; c < ce; c++)
        chunk(c * CE_CHUNK, buf.get(), buf.get() + (size_t)CE_CHUNK * C, buf.get() + (size_t)CE_CHUNK * (C + V));
    });
  } else {
    std::unique_ptr<float[]> buf(new float[per_chunk]);
    for (int c = 0; c < nchunks; c++)
      chunk(c * CE_CHUNK, buf.get(), buf.get() + (size_t)CE_CHUNK * C, buf.get() + (size_t)CE_CHUNK * (C + V));
  }
  double total = 0.0;
  for (double l : rowloss) total += l;
  return total;
}

void logprobs_forward(float* logprob, float* logits, const float* h, const float* W, const int32_t* targets, int N,
                      int C, int V) {
  std::vector<float> lg((size_t)CE_CHUNK * V);
  for (int c0 = 0; c0 < N; c0 += CE_CHUNK) {
    const int n = std::min(CE_CHUNK, N - c0);
    float* out = logits ? logits + (size_t)c0 * V : lg.data();
    kern::sgemm(false, true, n, V, C, 1.f, h + (size_t)c0 * C, C, W, C, 0.f, out, V);
    par_rows(n, (size_t)V, [&](int b, int e) {
      for (int i = b; i < e; i++) {
        const float* l = out + (size_t)i * V;
        const int t = targets ? targets[c0 + i] : -1;
        if (t < 0) {
          logprob[c0 + i] = 0.f;
          continue;
        }
        float mx = -INFINITY;
        for (int j = 0; j < V; j++) mx = std::max(mx, l[j]);
        double sum = 0;
        for (int j = 0; j < V; j++) sum += std::exp((double)(l[j] - mx));
        logprob[c0 + i] = (float)((double)l[t] - mx - std::log(sum));
      }
    });
  }
}

} // namespace peft::ops
