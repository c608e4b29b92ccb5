// backend_info(): one line naming the sgemm libraries, the bf16 matmul implementation, the thread count and the ISA of
// the dispatched decode kernels.
#include <string>
#include "kernels/gemm_bf16_internal.h"
#include "kernels/isa.h"
#include "kernels/kernels.h"
#include "kernels/sgemm_route.h"
#ifdef PEFT_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace peft::kern {

static std::string builtin_name() { return std::string("builtin-blocked (") + isa_name(active_isa()) + ")"; }

static std::string sgemm_name() {
#ifdef PEFT_HAVE_OPENBLAS
  if (!sgemm_uses_openblas())
    return builtin_name() + "; linked " + std::string(openblas_get_config()).substr(0, 15) + " (" +
           openblas_get_corename() + ") slower here";
  std::string cfg = openblas_get_config(); // e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64"
  std::string ver = "openblas";
  if (cfg.rfind("OpenBLAS ", 0) == 0) ver += "-" + cfg.substr(9, cfg.find(' ', 9) - 9);
  return ver + " (" + openblas_get_corename() + ")";
#else
  return builtin_name();
#endif
}

// "onednn-2.6.3/omp (x W^T, dy W) + " where oneDNN takes the untransposed-A products, else "".
static std::string onednn_part() {
  if (!sgemm_uses_onednn()) return "";
  return bf16_backend_name() + " (x W^T, dy W) + ";
}

std::string backend_info() {
  std::string bf = bf16_backend_name();
  if (bf == "none")
    bf = "fp32-fallback (built without oneDNN)";
  else
    bf += bf16_native() ? " (" + bf16_impl() + ")" : " (no bf16 ISA: fp32 fallback)";
  return "sgemm=" + onednn_part() + sgemm_name() + " bf16=" + bf + " threads=" + std::to_string(threads()) + " " +
         isa_info();
}

} // namespace peft::kern
