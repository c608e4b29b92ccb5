// oneDNN matmul primitives shared by gemm_bf16.cc and sgemm_onednn.cc (see dnnl_matmul.h).
#ifdef PEFT_HAVE_DNNL
#include "kernels/dnnl_matmul.h"
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>
#include "error.h"
extern "C" {
void omp_set_num_threads(int);
int omp_get_max_threads(void);
}

namespace peft::kern {

namespace {

using Key = std::tuple<int, bool, bool, int, int, int, int, int, int, uint32_t, uint32_t>;
constexpr size_t MAX_CACHED = 512; // shapes vary with the micro-batch length (attention chunks, row shares)

struct Cache {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  std::mutex m;
  std::map<Key, std::shared_ptr<const DnnlMatmul>> prims;
};

Cache& cache() {
  static Cache* c = new Cache(); // leaked: destroying oneDNN objects at exit races OpenMP teardown
  return *c;
}

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

} // namespace

std::shared_ptr<const DnnlMatmul> dnnl_matmul(DnnlInput in, bool tA, bool tB, int M, int N, int K, float alpha, int lda,
                                              int ldb, float beta, int ldc) {
  using dt = dnnl::memory::data_type;
  using dims = dnnl::memory::dims;
  Cache& c = cache();
  const Key key{(int)in, tA, tB, M, N, K, lda, ldb, ldc, bits(alpha), bits(beta)};
  std::lock_guard<std::mutex> g(c.m);
  auto it = c.prims.find(key);
  if (it != c.prims.end()) return it->second;
  auto p = std::make_shared<DnnlMatmul>();
  const dt t = in == DnnlInput::BF16 ? dt::bf16 : dt::f32;
  p->a = dnnl::memory::desc({M, K}, t, tA ? dims{1, lda} : dims{lda, 1});
  p->b = dnnl::memory::desc({K, N}, t, tB ? dims{1, ldb} : dims{ldb, 1});
  p->c = dnnl::memory::desc({M, N}, dt::f32, dims{ldc, 1});
  try {
    dnnl::primitive_attr attr;
    // Our own per-thread scratchpad: with the default (library) mode, Debian's build shares one global scratchpad
    // between primitives, which races when slabs run concurrently on the pool.
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    // fp32 products even if ONEDNN_DEFAULT_FPMATH_MODE says bf16
    if (in == DnnlInput::F32) attr.set_fpmath_mode(dnnl::fpmath_mode::strict);
    if (alpha != 1.f) attr.set_output_scales(0, {alpha});
    if (beta != 0.f) {
      dnnl::post_ops po;
      po.append_sum(beta);
      attr.set_post_ops(po);
    }
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(p->a, p->b, p->c), attr, c.eng);
    p->impl = pd.impl_info_str();
    // oneDNN's reference matmul is far slower than the fallbacks (widening to fp32 + sgemm, dnnl_sgemm): never used
    p->usable = p->impl.find("ref") == std::string::npos;
    if (p->usable) {
      p->prim = dnnl::matmul(pd);
      p->scratch = pd.scratchpad_desc();
    }
  } catch (const dnnl::error& e) {
    p->impl = std::string("refused: ") + e.what();
    p->usable = false;
  }
  if (c.prims.size() >= MAX_CACHED) c.prims.clear();
  c.prims.emplace(key, p);
  return p;
}

void dnnl_one_omp_thread() {
  if (omp_get_max_threads() != 1) omp_set_num_threads(1);
}

void dnnl_matmul_run(const DnnlMatmul& p, const void* A, const void* B, float* C, const char* what) {
  dnnl_one_omp_thread();
  const dnnl::engine& eng = cache().eng;
  try {
    thread_local dnnl::stream stream(cache().eng);
    thread_local std::vector<uint8_t> scratch;
    if (scratch.size() < p.scratch.get_size()) scratch.resize(p.scratch.get_size());
    dnnl::memory ma(p.a, eng, const_cast<void*>(A)), mb(p.b, eng, const_cast<void*>(B)), mc(p.c, eng, C),
        ms(p.scratch, eng, scratch.data());
    p.prim.execute(stream, {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}, {DNNL_ARG_SCRATCHPAD, ms}});
    stream.wait();
  } catch (const dnnl::error& e) {
    throw EngineError("E_ENGINE", std::string("oneDNN ") + what + " matmul failed: " + e.what());
  }
}

size_t dnnl_cached_matmuls(DnnlInput in) {
  Cache& c = cache();
  std::lock_guard<std::mutex> g(c.m);
  size_t n = 0;
  for (auto& [k, p] : c.prims) n += std::get<0>(k) == (int)in;
  return n;
}

} // namespace peft::kern
#endif
