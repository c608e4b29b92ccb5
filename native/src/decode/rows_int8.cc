// The int8 mode's dispatch (see rows_int8.h): inputs quantised once per call on the calling thread (with each chunk's
// sum, the VNNI body's offset term), weight tiles of 16 rows over the pool (NF4 tiles decoded to int8 once per call by
// the variant, reused by every row), products by the active ISA's variant (rows_int8_avx512vnni.cc under avx512 on a
// CPU with AVX512-VNNI, rows_int8_avx2.cc under avx2 and on AVX-512 CPUs without VNNI, rows_int8_scalar.cc, the
// reference, under scalar).
#include "decode/rows_int8.h"
#include <algorithm>
#include <cmath>
#include <vector>
#include "decode/rows_matmul.h"
#include "decode/rows_variants.h"
#include "kernels/isa.h"
#include "kernels/kernels.h"

namespace peft::decode {

namespace {

constexpr int TILE = 16;      // weight rows per task
constexpr int NF4_DIRECT = 3; // up to this many rows the products read the NF4 codes (no tile written and reread)

struct Q8Input { // the call's inputs in int8, on the calling thread (the pool's tasks read them through the pointers)
  const int8_t* q;
  const float* d;
  const int32_t* s; // each chunk's sum of q
};

Q8Input quantize_input(const RowsInt8Kernels& k, const float* x, int T, int in) {
  thread_local std::vector<int8_t> q;
  thread_local std::vector<float> d;
  thread_local std::vector<int32_t> s;
  const size_t n = (size_t)T * in;
  if (q.size() < n) q.resize(n);
  if (d.size() < n / 32) d.resize(n / 32);
  if (s.size() < n / 32) s.resize(n / 32);
  if (k.quantize) {
    k.quantize(x, n, q.data(), d.data(), s.data());
  } else {
    quantize_q8(x, n, q.data(), d.data());
    for (size_t c = 0; c < n / 32; c++) {
      int sum = 0;
      for (int i = 0; i < 32; i++) sum += q[c * 32 + i];
      s[c] = sum;
    }
  }
  return {q.data(), d.data(), s.data()};
}

} // namespace

const RowsInt8Kernels& rows_int8_kernels() {
  const kern::Isa isa = kern::active_isa();
  if (isa == kern::Isa::Avx512 && rows_int8_kernels_avx512vnni.products) {
    static const bool vnni = kern::cpu_has_avx512vnni();
    if (vnni) return rows_int8_kernels_avx512vnni;
  }
  // the AVX2 body under avx2 and on AVX-512 CPUs without VNNI; the scalar reference under PEFT_ISA=scalar
  if (isa != kern::Isa::Scalar && rows_int8_kernels_avx2.products && kern::isa_cpu_supports(kern::Isa::Avx2))
    return rows_int8_kernels_avx2;
  return rows_int8_kernels_scalar;
}

const char* rows_int8_body() {
  const RowsInt8Kernels& k = rows_int8_kernels();
  return &k == &rows_int8_kernels_avx512vnni ? "avx512vnni" : &k == &rows_int8_kernels_avx2 ? "avx2" : "scalar";
}

const int8_t* nf4_int8_levels() {
  static const std::vector<int8_t> levels = [] {
    std::vector<int8_t> l(16);
    for (int i = 0; i < 16; i++) l[i] = (int8_t)std::lrint(kern::NF4_CODE[i] * 127.0);
    return l;
  }();
  return levels.data();
}

void quantize_q8(const float* x, size_t n, int8_t* q, float* d) {
  for (size_t c = 0; c < n / 32; c++) {
    const float* xc = x + c * 32;
    float amax = 0.f;
    for (int i = 0; i < 32; i++) amax = std::max(amax, std::fabs(xc[i]));
    d[c] = amax / 127.f;
    const float id = amax > 0.f ? 127.f / amax : 0.f;
    for (int i = 0; i < 32; i++) {
      const float v = std::nearbyint(xc[i] * id); // round half to even (the default rounding mode)
      q[c * 32 + (i & 1) * 16 + i / 2] = (int8_t)std::min(127.f, std::max(-127.f, v)); // the chunk order
    }
  }
}

std::vector<float> q8_scales_by8(const float* d, int rows, int nc) {
  const int padded = (rows + 7) / 8 * 8;
  std::vector<float> out((size_t)padded * nc);
  for (int r = 0; r < padded; r++)
    for (int j = 0; j < nc; j++)
      out[((size_t)(r / 8) * nc + j) * 8 + r % 8] = d[(size_t)std::min(r, rows - 1) * nc + j];
  return out;
}

void quantize_q8_rows(const float* W, int rows, int in, std::vector<int8_t>& q, std::vector<float>& d) {
  q.resize((size_t)rows * in);
  std::vector<float> scales((size_t)rows * in / 32);
  quantize_q8(W, (size_t)rows * in, q.data(), scales.data());
  d = q8_scales_by8(scales.data(), rows, in / 32);
}

bool rows_int8_supported(const kern::FrozenLinear& W) { return W.storage() == kern::Storage::NF4 && W.in() % 32 == 0; }

void rows_matmul_int8(const kern::FrozenLinear& W, const float* x, int T, float* y) {
  const kern::FrozenLinear* ws[1] = {&W};
  float* const ys[1] = {y};
  rows_matmul_int8_group(ws, ys, 1, x, T);
}

void rows_matmul_int8_group(const kern::FrozenLinear* const* ws, float* const* ys, int n, const float* x, int T) {
  if (T <= 0 || n <= 0) return;
  struct Part {
    const kern::FrozenLinear* w;
    float* y;
    kern::Nf4View view;
    int tile0; // its first tile in the region's numbering
  };
  std::vector<Part> parts;
  int tiles = 0, in = 0;
  for (int j = 0; j < n; j++) {
    if (!rows_int8_supported(*ws[j])) { // fp32 rows products, on their own
      rows_matmul(*ws[j], x, T, ys[j], false);
      continue;
    }
    const kern::NF4Tensor& t = ws[j]->nf4_tensor();
    parts.push_back(Part{ws[j], ys[j],
                         kern::Nf4View{t.packed.data(), t.absmax_q.data(), t.absmax_scale.data(), t.absmax_offset,
                                       kern::NF4_CODE, t.rows, t.cols},
                         tiles});
    tiles += (ws[j]->out() + TILE - 1) / TILE;
    in = ws[j]->in(); // the same input: the same width
  }
  if (parts.empty()) return;
  const RowsInt8Kernels& k = rows_int8_kernels();
  const Q8Input xi = quantize_input(k, x, T, in);
  const int8_t* levels = nf4_int8_levels();
  kern::parallel_for_dynamic(tiles, [&](int b, int e) {
    thread_local std::vector<int8_t> wq;
    thread_local std::vector<float> dw;
    if (wq.size() < (size_t)TILE * in) wq.resize((size_t)TILE * in);
    if (dw.size() < (size_t)TILE * in / 32) dw.resize((size_t)TILE * in / 32); // TILE: a multiple of 8
    size_t p = 0;
    for (int c = b; c < e; c++) {
      while (p + 1 < parts.size() && parts[p + 1].tile0 <= c) p++;
      const Part& q = parts[p];
      const int out = q.w->out(), o0 = (c - q.tile0) * TILE, rows = std::min(TILE, out - o0);
      if (T <= NF4_DIRECT) { // the same numbers either way (rows_variants.h)
        k.decode(q.view, levels, o0, rows, nullptr, dw.data());
        k.products_nf4(q.view, levels, dw.data(), o0, o0 + rows, xi.q, xi.d, xi.s, T, q.y, out);
      } else {
        k.decode(q.view, levels, o0, rows, wq.data(), dw.data());
        k.products(wq.data(), dw.data(), o0, o0 + rows, in, xi.q, xi.d, xi.s, T, q.y, out);
      }
    }
  });
  for (const Part& q : parts) q.w->add_bias_rows(q.y, T);
}

void rows_matmul_q8(const int8_t* Wq, const float* Wd, int out, int in, const float* x, int T, float* y) {
  if (T <= 0 || out <= 0) return;
  const RowsInt8Kernels& k = rows_int8_kernels();
  const Q8Input xi = quantize_input(k, x, T, in);
  kern::parallel_for_dynamic((out + TILE - 1) / TILE, [&](int b, int e) {
    const int o0 = b * TILE, o1 = std::min(out, e * TILE);
    k.products(Wq + (size_t)o0 * in, Wd + (size_t)(o0 / 8) * (in / 32) * 8, o0, o1, in, xi.q, xi.d, xi.s, T, y, out);
  });
}

} // namespace peft::decode
