// bf16-mode causal attention (GQA, sliding window, pos0, batch) on AVX512-BF16: every product runs in one register-
// tiled micro-kernel (vdpbf16ps: bf16 pairs, fp32 accumulation, up to 6 rows x 64 lanes) on operands converted to
// bf16 once per call in the layouts it reads, so no oneDNN call, no per-block conversion and no transposed product.
// Forward: per block of 64 queries of one head: scores (in log2 units) over only the keys each group of 6 rows can
// see, key tiles outer; per row an fp32 max, E = 2^(s - max) rounded to bf16 and its fp32 sum (log-sum-exp saved);
// then O = (E V) / sum. Backward (FlashAttention-2 order): per (sequence, KV head), per head of the group, per block
// of 64 keys, the queries that see them in chunks of 64: S^T and dP^T (keys in rows, queries in lanes, so lse and D
// are lane vectors; only the 16-query vectors a group of keys can see), P and dS = P (dP - D) scale, then
// dV += P^T dO, dK += dS^T Q (kept for the block) and dQ^T += K^T dS^T (kept for the head, transposed into dq at its
// end). Its own unit, built with the AVX512-BF16 flags (build-flags.mjs); attention_bf16.cc calls it only on a CPU that
// has them. Built without them (a non-x86 compiler), the pointers are null and attention.cc runs its gemm_bf16 path.
#include "ops/attention_bf16.h"
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>
#include "kernels/kernels.h"
#if defined(__AVX512BF16__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include <immintrin.h>
#define PEFT_ATTN_BF16 1
#else
#define PEFT_ATTN_BF16 0
#endif

namespace peft::ops {

#if PEFT_ATTN_BF16
namespace {

using u16 = uint16_t;
constexpr int LANES = 64; // fp32 lanes of one tile (4 vectors)
constexpr int QB = 64;    // forward: queries per task; backward: queries per chunk
constexpr int KB = 64;    // backward: keys per block
constexpr int MR = 6;     // rows per micro-kernel call

inline int first_key(int p, int window) { return window > 0 ? std::max(0, p - window + 1) : 0; }
inline int round_up(int x, int m) { return (x + m - 1) / m * m; }

// bf16 bits (round to nearest even, NaN kept quiet: kern::f32_to_bf16's values) of 16 floats, in the low half of
// each 32-bit lane.
inline __m512i bf16_bits(__m512 x) {
  const __m512i u = _mm512_castps_si512(x);
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  const __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7FFF))), 16);
  const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
  return _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
}
inline __mmask16 lane_mask(int n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << std::max(n, 0)) - 1); }

// In-register transpose of a 16 x 16 fp32 block: r[i] holds row i before, column i after.
inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 4; i++) {
    t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
    t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
    t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
    t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
  }
  for (int i = 0; i < 8; i++) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
  }
}

// C[M, 16 NV] (= or +=) alpha * sum_p A[m][2p..2p+1] . B[p][16 NV lanes][2]: A rows of bf16 with pairs adjacent
// (row stride lda), B pair-packed (stride ldb per pair), kp pairs, C fp32 with row stride ldc.
template <int M, int NV>
void tile_kernel(const u16* A, size_t lda, const u16* B, size_t ldb, int kp, float* C, size_t ldc, float alpha,
                 bool accum) {
  __m512 acc[M][NV];
  for (int m = 0; m < M; m++)
    for (int v = 0; v < NV; v++) acc[m][v] = _mm512_setzero_ps();
  for (int p = 0; p < kp; p++) {
    const u16* b = B + (size_t)p * ldb;
    __m512bh bv[NV];
    for (int v = 0; v < NV; v++) bv[v] = (__m512bh)_mm512_loadu_si512(b + v * 32);
    for (int m = 0; m < M; m++) {
      int32_t a;
      std::memcpy(&a, A + m * lda + 2 * (size_t)p, 4);
      const __m512bh av = (__m512bh)_mm512_set1_epi32(a);
      for (int v = 0; v < NV; v++) acc[m][v] = _mm512_dpbf16_ps(acc[m][v], av, bv[v]);
    }
  }
  const __m512 al = _mm512_set1_ps(alpha);
  for (int m = 0; m < M; m++)
    for (int v = 0; v < NV; v++) {
      float* c = C + m * ldc + v * 16;
      __m512 r = _mm512_mul_ps(acc[m][v], al);
      if (accum) r = _mm512_add_ps(r, _mm512_loadu_ps(c));
      _mm512_storeu_ps(c, r);
    }
}

using TileFn = void (*)(const u16*, size_t, const u16*, size_t, int, float*, size_t, float, bool);
#define PEFT_TILE_ROW(M) \
  { &tile_kernel<M, 1>, &tile_kernel<M, 2>, &tile_kernel<M, 3>, &tile_kernel<M, 4> }
const TileFn TILE_FNS[MR][4] = {PEFT_TILE_ROW(1), PEFT_TILE_ROW(2), PEFT_TILE_ROW(3),
                                PEFT_TILE_ROW(4), PEFT_TILE_ROW(5), PEFT_TILE_ROW(6)};
#undef PEFT_TILE_ROW

// rows x (16 nv) tile in calls of at most MR rows (rows of A and C advance together).
inline void tile(int rows, int nv, const u16* A, size_t lda, const u16* B, size_t ldb, int kp, float* C, size_t ldc,
                 float alpha, bool accum) {
  for (int r = 0; r < rows; r += MR) {
    const int m = std::min(MR, rows - r);
    TILE_FNS[m - 1][nv - 1](A + r * lda, lda, B, ldb, kp, C + r * ldc, ldc, alpha, accum);
  }
}

// Prefetches row r + 8 of a strided fp32 matrix (rows of the caller's activations are far apart: the hardware
// prefetcher does not follow them).
inline void prefetch_row(const float* x, size_t ld, int r, int rows, int hd) {
  if (r + 8 < rows)
    for (int d = 0; d < hd; d += 16) _mm_prefetch((const char*)(x + (size_t)(r + 8) * ld + d), _MM_HINT_T0);
}

// Natural bf16 rows: dst[r][0..hde) = x[r][0..hd) (row stride ld), zero-padded to an even width hde.
void rows_bf16(const float* x, size_t ld, int rows, int hd, int hde, u16* dst) {
  for (int r = 0; r < rows; r++) {
    prefetch_row(x, ld, r, rows, hd);
    const float* xr = x + r * ld;
    for (int d = 0; d < hde; d += 32) {
      const __m512 lo = _mm512_maskz_loadu_ps(lane_mask(hd - d), xr + d);
      const __m512 hi = _mm512_maskz_loadu_ps(lane_mask(hd - d - 16), xr + d + 16);
      const __mmask32 m = hde - d >= 32 ? ~(__mmask32)0 : (__mmask32)((1u << (hde - d)) - 1);
      _mm512_mask_storeu_epi16(dst + (size_t)r * hde + d, m, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
  }
}

// Pairs along the head dimension, rows in lanes: dst[(p * lanes + r) * 2 + e] = bf16(x[r][2p + e]) for the fp32 rows
// x [rows][hd] (row stride ld; an odd hd's last pair completed with 0): bf16 pairs as 32-bit words, 16 rows x 16
// words at a time through transpose16 (as raw bits). Lanes rows..lanes stay as they are (zero).
void pack_dim_pairs(const float* x, size_t ld, int rows, int hd, size_t lanes, u16* dst) {
  const int kp = (hd + 1) / 2;
  for (int r0 = 0; r0 < rows; r0 += 16) {
    for (int r = r0; r < std::min(rows, r0 + 16); r++) prefetch_row(x, ld, r + 8, rows, hd);
    for (int p0 = 0; p0 < kp; p0 += 16) {
      const __mmask16 lo = lane_mask(hd - 2 * p0), hi = lane_mask(hd - 2 * p0 - 16);
      __m512 blk[16];
      for (int r = 0; r < 16; r++) {
        const float* xr = x + (size_t)(r0 + r) * ld + 2 * p0;
        blk[r] = r0 + r < rows
                     ? (__m512)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, xr + 16), _mm512_maskz_loadu_ps(lo, xr))
                     : _mm512_setzero_ps();
      }
      transpose16(blk);
      for (int i = 0; i < 16 && p0 + i < kp; i++)
        _mm512_mask_storeu_ps(reinterpret_cast<float*>(dst) + (size_t)(p0 + i) * lanes + r0, lane_mask(rows - r0),
                              blk[i]);
    }
  }
}

// Pairs along the rows, the head dimension in lanes: dst[((r / 2) * HDP + d) * 2 + r % 2] = bf16(x[r][d]), an odd
// last row paired with zeros; HDP = hd rounded up to 16.
void pack_row_pairs(const float* x, size_t ld, int rows, int hd, int HDP, u16* dst) {
  for (int r = 0; r < rows; r += 2) {
    prefetch_row(x, ld, r, rows, hd);
    prefetch_row(x, ld, r + 1, rows, hd);
    const float* a = x + r * ld;
    const float* b = r + 1 < rows ? a + ld : nullptr;
    uint32_t* out = reinterpret_cast<uint32_t*>(dst + (size_t)(r / 2) * HDP * 2);
    for (int d = 0; d < HDP; d += 16) {
      const __mmask16 m = lane_mask(hd - d);
      const __m512i lo = bf16_bits(_mm512_maskz_loadu_ps(m, a + d));
      const __m512i hi = b ? bf16_bits(_mm512_maskz_loadu_ps(m, b + d)) : _mm512_setzero_si512();
      _mm512_storeu_si512(out + d, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
    }
  }
}

constexpr float LOG2E = 1.44269504088896341f, LN2 = 0.693147180559945309f;

// Lanes [lo, hi) of 16 (bounds clamped to [0, 16]).
// v = n zeros. Not vector::assign: its instantiation here would be AVX-512 code that the linker may keep for the
// whole addon (tests/native/portable-build.test.ts checks that no shared template copy has AVX in it).
template <typename T>
void zero_fill(std::vector<T>& v, size_t n) {
  v.resize(n);
  std::memset(v.data(), 0, n * sizeof(T));
}

// Max of x[0, n).
inline float row_max(const float* x, int n) {
  __m512 m = _mm512_set1_ps(-INFINITY);
  for (int j = 0; j < n; j += 16)
    m = _mm512_max_ps(m, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), lane_mask(n - j), x + j));
  return _mm512_reduce_max_ps(m);
}

inline __mmask16 range_mask(int lo, int hi) {
  return (__mmask16)(lane_mask(std::min(hi, 16)) & ~lane_mask(std::min(lo, 16)));
}

// 2^t for t <= 0 (scores in log2 units minus their row's max or log-sum-exp), as 2^n 2^f with |f| <= 1/2 and 2^f from
// its degree-5 Taylor polynomial: relative error < 3e-6, far below the bf16 rounding the probabilities then get; very
// negative t gives 0 (scalef).
inline __m512 exp2_neg(__m512 t) {
  const __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(t, n);
  __m512 p = _mm512_set1_ps(1.3333558e-3f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.6181291e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5504109e-2f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022651e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9314718e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.f));
  return _mm512_scalef_ps(p, n);
}

// One softmax row of a score block in log2 units: E = 2^(x - m) on the visible columns [a, e), 0 on the rest of
// [0, npad), written as bf16 to dst; returns the sum of the fp32 exponentials (the caller divides the P V row by it).
float exp_row_bf16(const float* x, int a, int e, int npad, float m, u16* dst) {
  const __m512 vm = _mm512_set1_ps(m);
  __m512 acc = _mm512_setzero_ps();
  for (int j = a & ~15; j < npad; j += 16) {
    const __mmask16 vis = range_mask(a - j, e - j);
    const __m512 ev = _mm512_maskz_mov_ps(vis, exp2_neg(_mm512_sub_ps(_mm512_maskz_loadu_ps(vis, x + j), vm)));
    acc = _mm512_add_ps(acc, ev);
    _mm256_mask_storeu_epi16(dst + j, lane_mask(npad - j), (__m256i)_mm512_cvtneps_pbh(ev));
  }
  std::fill(dst, dst + (a & ~15), (u16)0);
  return _mm512_reduce_add_ps(acc);
}

void forward(float* out, float* lse, const float* q, const float* k, const float* v, const AttnShape& s) {
  const int group = s.nh / s.nkv, hd = s.hd, hde = hd + (hd & 1), kpd = hde / 2, HDP = round_up(hd, 16), nvd = HDP / 16;
  const int Tkp = round_up(s.Tk, 16) + LANES; // key lanes of packed K: a 64-lane tile starting at a key never leaves it
  const int npair = (s.Tk + 1) / 2;
  const float scale = 1.f / std::sqrt((float)hd);
  const size_t kdN = (size_t)kpd * Tkp * 2, vkN = (size_t)npair * HDP * 2;
  const int nkvb = s.batch * s.nkv, nqb = (s.T + QB - 1) / QB;
  // K as [hd/2][Tkp][2] (scores: keys in lanes) and V as [Tk/2][HDP][2] (P V: head dims in lanes), per (sequence,
  // KV head), once per call. The caller's buffers (a thread_local named in the pool's threads is each one's own).
  thread_local std::vector<u16> kd_buf, vk_buf;
  kd_buf.resize(kdN * nkvb); // every element is written below: the packs, and K's lanes Tk..Tkp zeroed
  vk_buf.resize(vkN * nkvb);
  u16 *KD = kd_buf.data(), *VK = vk_buf.data();
  kern::parallel_for(nkvb, [&](int tb, int te) {
    for (int t = tb; t < te; t++) {
      const int b = t / s.nkv, kh = t % s.nkv;
      const size_t off = (size_t)b * s.Tk * s.kv_stride + (size_t)kh * hd;
      pack_dim_pairs(k + off, s.kv_stride, s.Tk, hd, Tkp, KD + kdN * t);
      for (int p = 0; p < kpd; p++)
        std::fill(KD + kdN * t + ((size_t)p * Tkp + s.Tk) * 2, KD + kdN * t + (size_t)(p + 1) * Tkp * 2, (u16)0);
      pack_row_pairs(v + off, s.kv_stride, s.Tk, hd, HDP, VK + vkN * t);
    }
  });
  const int SLD = round_up(s.Tk, 16) + LANES; // fp32 score row stride
  kern::parallel_for(s.batch * s.nh * nqb, [&](int tb, int te) {
    thread_local std::vector<u16> q16, p16;
    thread_local std::vector<float> S, O;
    q16.resize((size_t)QB * hde);
    p16.resize((size_t)QB * SLD);
    S.resize((size_t)QB * SLD);
    O.resize((size_t)MR * HDP);
    float rinv[MR];
    for (int task = tb; task < te; task++) {
      const int qb = task % nqb, h = (task / nqb) % s.nh, b = task / (nqb * s.nh), kh = h / group;
      const int q0 = qb * QB, nq = std::min(s.T, q0 + QB) - q0;
      const u16* kd = KD + kdN * (b * s.nkv + kh);
      const u16* vk = VK + vkN * (b * s.nkv + kh);
      const size_t qoff = ((size_t)b * s.T + q0) * s.q_stride + (size_t)h * hd;
      rows_bf16(q + qoff, s.q_stride, nq, hd, hde, q16.data());
      for (int i = 0; i < nq; i++) // this block's output rows, written at the end of each row group
        for (int d = 0; d < hd; d += 16)
          _mm_prefetch((const char*)(out + qoff + (size_t)i * s.q_stride + d), _MM_HINT_ET0);
      float* L = lse ? lse + ((size_t)b * s.nh + h) * s.T + q0 : nullptr;
      // column c of a score row is key kgb + c; row group [r0, r0 + MR) needs keys [first_key(pmin), pmax]
      const int pb0 = s.pos0 + q0, kgb = first_key(pb0, s.window) & ~1, nsb = pb0 + nq - kgb;
      for (int kt = 0; kt < nsb;
           kt += LANES) // S = scale Q K^T (log2 units), key tiles outer so each stays in L1 for the block
        for (int r0 = 0; r0 < nq; r0 += MR) {
          const int mr = std::min(MR, nq - r0), pmin = pb0 + r0, pmax = pmin + mr - 1;
          const int c1 = std::min(kt + LANES, pmax + 1 - kgb);
          if (c1 <= kt || kgb + kt + LANES <= first_key(pmin, s.window)) continue;
          TILE_FNS[mr - 1][(c1 - kt + 15) / 16 - 1](q16.data() + (size_t)r0 * hde, hde, kd + (size_t)(kgb + kt) * 2,
                                                    (size_t)Tkp * 2, kpd, S.data() + (size_t)r0 * SLD + kt, SLD,
                                                    scale * LOG2E, false);
        }
      // the next task's query rows, fetched while this block computes (its rows_bf16 would wait on memory)
      const float* qnext = nullptr;
      int nqn = 0;
      if (task + 1 < te) {
        const int qbn = (task + 1) % nqb, hn = ((task + 1) / nqb) % s.nh, bn = (task + 1) / (nqb * s.nh);
        qnext = q + ((size_t)bn * s.T + (size_t)qbn * QB) * s.q_stride + (size_t)hn * hd;
        nqn = std::min(s.T, qbn * QB + QB) - qbn * QB;
      }
      for (int r0 = 0; r0 < nq; r0 += MR) {
        const int mr = std::min(MR, nq - r0), pmin = pb0 + r0, pmax = pmin + mr - 1;
        const int c0 = (first_key(pmin, s.window) - kgb) & ~1, c1 = (pmax + 2 - kgb) & ~1; // P V columns [c0, c1)
        for (int i = r0; qnext && i < std::min(nqn, r0 + MR); i++)
          for (int d = 0; d < hd; d += 16) _mm_prefetch((const char*)(qnext + (size_t)i * s.q_stride + d), _MM_HINT_T0);
        for (int i = r0; i < r0 + mr; i++) {
          const float* row = S.data() + (size_t)i * SLD;
          const int p = pb0 + i, a = first_key(p, s.window) - kgb, e = p + 1 - kgb; // visible columns [a, e)
          const float mx = row_max(row + a, e - a);
          const float sum = exp_row_bf16(row, a, e, c1, mx, p16.data() + (size_t)i * SLD);
          rinv[i - r0] = 1.f / sum;
          if (L) L[i] = (mx + std::log2(sum)) * LN2;
        }
        tile(mr, nvd, p16.data() + (size_t)r0 * SLD + c0, SLD, vk + (size_t)((kgb + c0) / 2) * HDP * 2, (size_t)HDP * 2,
             (c1 - c0) / 2, O.data(), HDP, 1.f, false); // O = E V
        for (int i = 0; i < mr; i++)                    // O = (E V) / sum
          for (int d = 0; d < hd; d += 16)
            _mm512_mask_storeu_ps(
                out + qoff + (size_t)(r0 + i) * s.q_stride + d, lane_mask(hd - d),
                _mm512_mul_ps(_mm512_loadu_ps(O.data() + (size_t)i * HDP + d), _mm512_set1_ps(rinv[i])));
      }
    }
  });
}

void backward(float* dq, float* dk, float* dv, const float* dout, const float* out, const float* q, const float* k,
              const float* v, const float* lse, const AttnShape& s) {
  const int group = s.nh / s.nkv, hd = s.hd, hde = hd + (hd & 1), kpd = hde / 2, HDP = round_up(hd, 16), nvd = HDP / 16;
  const int Tqp = round_up(s.T, 16) + LANES; // query lanes of the packed Q / dO, lse, D and dQ^T rows
  const int Tkt = round_up(s.Tk, 2) + KB;    // key columns of K^T
  const float scale = 1.f / std::sqrt((float)hd);
  kern::parallel_for(s.batch * s.nkv, [&](int tb, int te) {
    thread_local std::vector<u16> k16, v16, kt16, qd, dod, qq, doq, pt, dst, dsp;
    thread_local std::vector<float> Lq, Dq, dqt, St, dPt, dKa, dVa;
    k16.resize((size_t)s.Tk * hde);
    v16.resize((size_t)s.Tk * hde);
    zero_fill(kt16, (size_t)hd * Tkt);
    zero_fill(qd, (size_t)kpd * Tqp * 2);
    zero_fill(dod, (size_t)kpd * Tqp * 2);
    zero_fill(qq, (size_t)(s.T / 2 + 1) * HDP * 2);
    zero_fill(doq, (size_t)(s.T / 2 + 1) * HDP * 2);
    pt.resize((size_t)KB * LANES);
    dst.resize((size_t)KB * LANES);
    dsp.resize((size_t)KB * LANES);
    zero_fill(Lq, Tqp);
    zero_fill(Dq, Tqp);
    zero_fill(dqt, (size_t)HDP * Tqp); // rows hd..HDP stay zero (read by the 16 x 16 transposes)
    St.resize((size_t)KB * LANES);
    dPt.resize((size_t)KB * LANES);
    dKa.resize((size_t)KB * HDP);
    dVa.resize((size_t)KB * HDP);
    for (int task = tb; task < te; task++) {
      const int b = task / s.nkv, kh = task % s.nkv;
      const size_t koff = (size_t)b * s.Tk * s.kv_stride + (size_t)kh * hd;
      rows_bf16(k + koff, s.kv_stride, s.Tk, hd, hde, k16.data());
      rows_bf16(v + koff, s.kv_stride, s.Tk, hd, hde, v16.data());
      for (int j0 = 0; j0 < s.Tk; j0 += 16) // K^T in bf16, 16 x 16 blocks
        for (int d0 = 0; d0 < hd; d0 += 16) {
          __m512 blk[16];
          for (int r = 0; r < 16; r++)
            blk[r] = j0 + r < s.Tk
                         ? _mm512_maskz_loadu_ps(lane_mask(hd - d0), k + koff + (size_t)(j0 + r) * s.kv_stride + d0)
                         : _mm512_setzero_ps();
          transpose16(blk);
          for (int c = 0; c < 16 && d0 + c < hd; c++)
            _mm256_mask_storeu_epi16(kt16.data() + (size_t)(d0 + c) * Tkt + j0, lane_mask(s.Tk - j0),
                                     (__m256i)_mm512_cvtneps_pbh(blk[c]));
        }
      for (int h = kh * group; h < (kh + 1) * group; h++) {
        const size_t qoff = (size_t)b * s.T * s.q_stride + (size_t)h * hd;
        const float* qh = q + qoff;
        const float* doh = dout + qoff;
        const float* oh = out + qoff;
        // Q and dO as [hd/2][Tqp][2] (queries in lanes) and [T/2][HDP][2] (queries contracted); lse and
        // D = dO . O (fp32, the blocked path's order) per query.
        pack_dim_pairs(qh, s.q_stride, s.T, hd, Tqp, qd.data());
        pack_dim_pairs(doh, s.q_stride, s.T, hd, Tqp, dod.data());
        pack_row_pairs(qh, s.q_stride, s.T, hd, HDP, qq.data());
        pack_row_pairs(doh, s.q_stride, s.T, hd, HDP, doq.data());
        const float* L = lse + ((size_t)b * s.nh + h) * s.T;
        for (int i = 0; i < s.T; i++) {
          prefetch_row(oh, s.q_stride, i + 24, s.T, hd); // 32 rows ahead: little work per row here
          __m512 acc = _mm512_setzero_ps();
          for (int d = 0; d < hd; d += 16) {
            const __mmask16 m = lane_mask(hd - d);
            acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, doh + (size_t)i * s.q_stride + d),
                                  _mm512_maskz_loadu_ps(m, oh + (size_t)i * s.q_stride + d), acc);
          }
          Dq[i] = _mm512_reduce_add_ps(acc) * scale;
          Lq[i] = L[i] * LOG2E;
        }
        std::fill(dqt.begin(), dqt.begin() + (size_t)hd * Tqp, 0.f);
        for (int j0 = 0; j0 < s.Tk; j0 += KB) {
          const int nj = std::min(KB, s.Tk - j0), njp = (nj + 1) & ~1;
          // queries that see a key of [j0, j0 + nj): position >= j0 and (window) < j0 + nj - 1 + window
          const int qa = std::max(0, j0 - s.pos0) & ~1;
          const int qe = s.window > 0 ? std::min(s.T, j0 + nj - 1 + s.window - s.pos0) : s.T;
          if (qa >= qe) continue;
          for (int r = 0; r < nj; r++) // the rows of dk / dv this block adds to at its end, fetched now
            for (int d = 0; d < hd; d += 16) {
              _mm_prefetch((const char*)(dk + koff + (size_t)(j0 + r) * s.kv_stride + d), _MM_HINT_ET0);
              _mm_prefetch((const char*)(dv + koff + (size_t)(j0 + r) * s.kv_stride + d), _MM_HINT_ET0);
            }
          std::fill(dKa.begin(), dKa.end(), 0.f);
          std::fill(dVa.begin(), dVa.end(), 0.f);
          for (int qc = qa; qc < qe; qc += QB) {
            const int nq = std::min(QB, qe - qc), nvq = (nq + 15) / 16, nqp = (nq + 1) & ~1;
            // S^T = scale K Q^T and dP^T = V dO^T: keys in rows, queries in lanes; each group of MR keys only over
            // the 16-query vectors [vs, ve) that can see one of them (the rest of the diagonal tile stays masked)
            int vsg[(KB + MR - 1) / MR], veg[(KB + MR - 1) / MR];
            for (int r0 = 0, g = 0; r0 < nj; r0 += MR, g++) {
              const int mr = std::min(MR, nj - r0);
              const int ve =
                  s.window > 0 ? std::clamp((j0 + r0 + mr - 1 + s.window - s.pos0 - qc + 15) / 16, 0, nvq) : nvq;
              const int vs = std::min(ve, std::max(0, (j0 + r0 - s.pos0 - qc) / 16));
              vsg[g] = vs;
              veg[g] = ve;
              if (vs == ve) continue;
              TILE_FNS[mr - 1][ve - vs - 1](k16.data() + (size_t)(j0 + r0) * hde, hde,
                                            qd.data() + (size_t)(qc + 16 * vs) * 2, (size_t)Tqp * 2, kpd,
                                            St.data() + (size_t)r0 * LANES + 16 * vs, LANES, scale * LOG2E, false);
              TILE_FNS[mr - 1][ve - vs - 1](v16.data() + (size_t)(j0 + r0) * hde, hde,
                                            dod.data() + (size_t)(qc + 16 * vs) * 2, (size_t)Tqp * 2, kpd,
                                            dPt.data() + (size_t)r0 * LANES + 16 * vs, LANES, scale, false);
            }
            // P^T and dS^T = P (dP - D) scale (both dP^T and D scaled already): bf16 rows (key-major) and key-pair-packed dS^T for dQ^T
            for (int r = 0; r < njp; r += 2) {
              for (int vv = 0; vv < nvq; vv++) {
                const int q16i = qc + vv * 16;
                const __m512 lv = _mm512_loadu_ps(Lq.data() + q16i), dvv = _mm512_loadu_ps(Dq.data() + q16i);
                __m512i ds2[2];
                for (int e = 0; e < 2; e++) {
                  const int rr = r + e, j = j0 + rr;
                  if (rr >= nj) {
                    ds2[e] = _mm512_setzero_si512();
                    continue;
                  }
                  // visible: q < T, position pos0 + q >= j, and (window) pos0 + q < j + window
                  const int qhi = s.window > 0 ? std::min(s.T, j + s.window - s.pos0) : s.T;
                  const __mmask16 m = range_mask(j - s.pos0 - q16i, qhi - q16i);
                  const size_t o = (size_t)rr * LANES + vv * 16;
                  // (masked: lanes of skipped vectors hold stale values)
                  const __m512 P = _mm512_maskz_mov_ps(m, exp2_neg(_mm512_sub_ps(_mm512_loadu_ps(St.data() + o), lv)));
                  const __m512 dS = _mm512_maskz_mul_ps(m, P, _mm512_sub_ps(_mm512_loadu_ps(dPt.data() + o), dvv));
                  const __m256i pb = (__m256i)_mm512_cvtneps_pbh(P), db = (__m256i)_mm512_cvtneps_pbh(dS);
                  _mm256_storeu_si256((__m256i*)(pt.data() + o), pb);
                  _mm256_storeu_si256((__m256i*)(dst.data() + o), db);
                  ds2[e] = _mm512_cvtepu16_epi32(db);
                }
                _mm512_storeu_si512(dsp.data() + (size_t)(r / 2) * LANES * 2 + vv * 32,
                                    _mm512_or_si512(ds2[0], _mm512_slli_epi32(ds2[1], 16)));
              }
            }
            // dV += P^T dO, dK += dS^T Q (queries contracted), dQ^T += K^T dS^T (keys contracted)
            for (int r0 = 0, g = 0; r0 < nj; r0 += MR, g++) { // queries contracted over the group's vectors only
              const int mr = std::min(MR, nj - r0), p0 = 8 * vsg[g], p1 = std::min(nqp / 2, 8 * veg[g]);
              if (p1 <= p0) continue;
              const size_t bo = (size_t)(qc / 2 + p0) * HDP * 2;
              TILE_FNS[mr - 1][nvd - 1](pt.data() + (size_t)r0 * LANES + 2 * p0, LANES, doq.data() + bo,
                                        (size_t)HDP * 2, p1 - p0, dVa.data() + (size_t)r0 * HDP, HDP, 1.f, true);
              TILE_FNS[mr - 1][nvd - 1](dst.data() + (size_t)r0 * LANES + 2 * p0, LANES, qq.data() + bo,
                                        (size_t)HDP * 2, p1 - p0, dKa.data() + (size_t)r0 * HDP, HDP, 1.f, true);
            }
            tile(hd, nvq, kt16.data() + j0, Tkt, dsp.data(), (size_t)LANES * 2, njp / 2, dqt.data() + qc, Tqp, 1.f,
                 true);
          }
          for (int r = 0; r < nj; r++) {
            float* dkr = dk + koff + (size_t)(j0 + r) * s.kv_stride;
            float* dvr = dv + koff + (size_t)(j0 + r) * s.kv_stride;
            for (int d = 0; d < hd; d++) {
              dkr[d] += dKa[(size_t)r * HDP + d];
              dvr[d] += dVa[(size_t)r * HDP + d];
            }
          }
        }
        for (int i0 = 0; i0 < s.T; i0 += 16) // dq = (dQ^T)^T, 16 x 16 blocks
          for (int d0 = 0; d0 < hd; d0 += 16) {
            for (int c = 0; c < 16 && i0 + 32 + c < s.T; c++) // rows two blocks ahead, for writing
              _mm_prefetch((const char*)(dq + qoff + (size_t)(i0 + 32 + c) * s.q_stride + d0), _MM_HINT_ET0);
            __m512 blk[16];
            for (int r = 0; r < 16; r++) blk[r] = _mm512_loadu_ps(dqt.data() + (size_t)(d0 + r) * Tqp + i0);
            transpose16(blk);
            for (int c = 0; c < 16 && i0 + c < s.T; c++)
              _mm512_mask_storeu_ps(dq + qoff + (size_t)(i0 + c) * s.q_stride + d0, lane_mask(hd - d0), blk[c]);
          }
      }
    }
  });
}

} // namespace

const AttnBf16Forward attention_bf16_forward_avx512bf16 = forward;
const AttnBf16Backward attention_bf16_backward_avx512bf16 = backward;

#else // no AVX512-BF16 in this build: attention.cc keeps bf16 mode on its gemm_bf16 path

const AttnBf16Forward attention_bf16_forward_avx512bf16 = nullptr;
const AttnBf16Backward attention_bf16_backward_avx512bf16 = nullptr;

#endif

} // namespace peft::ops
