// oneDNN fp32 GEMM behind kern::sgemm on CPUs where it beats OpenBLAS (sgemm.cc decides where), one call on the
// calling thread: the pool splits C into slabs as for OpenBLAS, so oneDNN's OpenMP team is set to 1 per thread.
// The rule (sgemm_onednn_route), from bench/sgemm-route.bench.ts on the training step's own calls (SmolLM2-135M
// shape, seq 512 x batch 4, every call a 1024-row share or a 64-row lm_head chunk on one pool thread), Ice Lake,
// OpenBLAS 0.3.21 (SkylakeX) vs oneDNN 2.6.3, thread CPU time, min of 7 interleaved rounds:
//  - x W^T (A untransposed, B transposed) with K >= 64: the matmul primitive (brgemm) wins everywhere measured:
//    lm_head 64 x 49152 x 576 1.38x, projections 1024 x {192, 576, 1536} x {576, 1536} 1.09-1.40x, attention
//    QK^T 128 x {128..512} x 64 1.23-1.47x, LoRA x A^T 1024 x 16 x K 1.14-1.26x; dnnl_sgemm loses the lm_head (0.77x);
//  - the other untransposed-A products (dy W, P V, LoRA up-products with K = 16): dnnl_sgemm, 0.95-1.24x (the lm_head
//    input gradient 64 x 576 x 49152 1.18x, 1024 x 1536 x 576 1.14x, 1024 x 576 x {576, 1536} 0.95x); the matmul
//    primitive loses these (0.61-0.76x);
//  - transposed A (weight gradients dy^T x, attention dS^T Q): OpenBLAS (oneDNN 0.87-0.95x, matmul far slower).
// A fixed rule rather than a timing at first use: the same call always takes the same routine, so runs and resumed
// checkpoints give the same bits on a machine whatever its load.
#include "kernels/sgemm_onednn.h"
#include <string>
#include "error.h"
#ifdef PEFT_HAVE_DNNL
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>
#include <oneapi/dnnl/dnnl.hpp>
extern "C" {
void omp_set_num_threads(int);
int omp_get_max_threads(void);
}
#endif

namespace peft::kern {

bool sgemm_onednn_linked() {
#ifdef PEFT_HAVE_DNNL
  return true;
#else
  return false;
#endif
}

OnednnSgemm sgemm_onednn_route(bool tA, bool tB, int K) {
  if (tA) return OnednnSgemm::None;
  return tB && K >= 64 ? OnednnSgemm::Matmul : OnednnSgemm::Gemm;
}

const char* sgemm_onednn_route_name(OnednnSgemm r) {
  switch (r) {
    case OnednnSgemm::Matmul: return "onednn-matmul";
    case OnednnSgemm::Gemm: return "onednn-gemm";
    default: return "none";
  }
}

#ifdef PEFT_HAVE_DNNL
namespace {

using Key = std::tuple<bool, bool, int, int, int, int, int, int, uint32_t, uint32_t>;
struct Prim {
  dnnl::matmul prim;
  dnnl::memory::desc a, b, c, scratch;
  std::string impl;
  bool usable = false; // false: oneDNN offered only its reference kernel or refused; dnnl_sgemm runs instead
};

// Primitives per call shape. Shapes vary with the micro-batch length (attention chunks, row shares), so the cache is
// bounded: past MAX_CACHED it starts over (calls in flight keep theirs through the shared_ptr).
constexpr size_t MAX_CACHED = 512;
struct Cache {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  std::mutex m;
  std::map<Key, std::shared_ptr<Prim>> prims;
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

std::shared_ptr<Prim> get_prim(bool tA, bool tB, int M, int N, int K, float alpha, int lda, int ldb, float beta,
                               int ldc) {
  using dt = dnnl::memory::data_type;
  using dims = dnnl::memory::dims;
  Cache& c = cache();
  const Key key{tA, tB, M, N, K, lda, ldb, ldc, bits(alpha), bits(beta)};
  std::lock_guard<std::mutex> g(c.m);
  auto it = c.prims.find(key);
  if (it != c.prims.end()) return it->second;
  auto p = std::make_shared<Prim>();
  p->a = dnnl::memory::desc({M, K}, dt::f32, tA ? dims{1, lda} : dims{lda, 1});
  p->b = dnnl::memory::desc({K, N}, dt::f32, tB ? dims{1, ldb} : dims{ldb, 1});
  p->c = dnnl::memory::desc({M, N}, dt::f32, dims{ldc, 1});
  try {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user); // per-thread scratchpads: slabs run concurrently
    attr.set_fpmath_mode(dnnl::fpmath_mode::strict);       // fp32 products even if ONEDNN_DEFAULT_FPMATH_MODE says bf16
    if (alpha != 1.f) attr.set_output_scales(0, {alpha});
    if (beta != 0.f) {
      dnnl::post_ops po;
      po.append_sum(beta);
      attr.set_post_ops(po);
    }
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(p->a, p->b, p->c), attr, c.eng);
    p->impl = pd.impl_info_str();
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

void one_omp_thread() { // per calling thread (OpenMP ICVs are thread-local for non-OpenMP threads)
  if (omp_get_max_threads() != 1) omp_set_num_threads(1);
}

void run_gemm(bool tA, bool tB, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
              float beta, float* C, int ldc) {
  const dnnl_status_t st = dnnl_sgemm(tA ? 'T' : 'N', tB ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  if (st != dnnl_success)
    throw EngineError("E_ENGINE", "oneDNN sgemm failed (status " + std::to_string((int)st) + ") on " +
                                      std::to_string(M) + "x" + std::to_string(N) + "x" + std::to_string(K));
}

} // namespace
#endif

void sgemm_onednn(OnednnSgemm route, bool tA, bool tB, int M, int N, int K, float alpha, const float* A, int lda,
                  const float* B, int ldb, float beta, float* C, int ldc) {
  if (route == OnednnSgemm::None) throw EngineError("E_ENGINE", "sgemm_onednn: no oneDNN routine for this call");
#ifdef PEFT_HAVE_DNNL
  one_omp_thread();
  if (route == OnednnSgemm::Gemm) return run_gemm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  auto p = get_prim(tA, tB, M, N, K, alpha, lda, ldb, beta, ldc);
  if (!p->usable) return run_gemm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  Cache& c = cache();
  try {
    thread_local dnnl::stream stream(c.eng);
    thread_local std::vector<uint8_t> scratch;
    if (scratch.size() < p->scratch.get_size()) scratch.resize(p->scratch.get_size());
    dnnl::memory ma(p->a, c.eng, const_cast<float*>(A)), mb(p->b, c.eng, const_cast<float*>(B)), mc(p->c, c.eng, C),
        ms(p->scratch, c.eng, scratch.data());
    p->prim.execute(stream,
                    {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}, {DNNL_ARG_SCRATCHPAD, ms}});
    stream.wait();
  } catch (const dnnl::error& e) {
    throw EngineError("E_ENGINE", std::string("oneDNN fp32 matmul failed: ") + e.what());
  }
#else
  (void)tA, (void)tB, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)lda, (void)B, (void)ldb, (void)beta,
      (void)C, (void)ldc;
  throw EngineError("E_ENGINE", "sgemm_onednn: this build has no oneDNN (install libdnnl-dev and rebuild)");
#endif
}

std::string sgemm_onednn_impl(bool tA, bool tB, int M, int N, int K, float alpha, int lda, int ldb, float beta,
                              int ldc) {
#ifdef PEFT_HAVE_DNNL
  return get_prim(tA, tB, M, N, K, alpha, lda, ldb, beta, ldc)->impl;
#else
  (void)tA, (void)tB, (void)M, (void)N, (void)K, (void)alpha, (void)lda, (void)ldb, (void)beta, (void)ldc;
  return "none";
#endif
}

} // namespace peft::kern
