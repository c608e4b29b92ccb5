// Readers of JS arguments for the kernel-level bindings (kernels.*, and the test addon's kernels / ops): option fields
// named after the calling function, GEMM shapes with their leading dimensions, and the guard those bindings run under.
#pragma once
#include <napi.h>
#include <cstddef>
#include <string>
#include "binding/napi_guard.h"

namespace peft::binding {

[[noreturn]] void bad(const std::string& msg); // throws E_ENGINE

Napi::Object obj_arg(const Napi::CallbackInfo& info, size_t i, const char* fn);
double num(const Napi::Value& v, const std::string& what);
int int_in(const Napi::Value& v, const std::string& what, long long lo, long long hi);
int int_field(const Napi::Object& o, const char* fn, const char* key, long long lo, long long hi, int dflt,
              bool required);
bool bool_field(const Napi::Object& o, const char* fn, const char* key, bool dflt);
float float_field(const Napi::Object& o, const char* fn, const char* key, float dflt);

// Elements a row-major matrix of `rows` x `cols` with row stride ld spans.
size_t span(int rows, int cols, int ld);

// {transA, transB, M, N, K, lda, ldb, ldc, alpha, beta} of a row-major GEMM (see kern::sgemm), checked.
struct GemmArgs {
  bool tA, tB;
  int M, N, K, lda, ldb, ldc;
  float alpha, beta;
};
GemmArgs gemm_args(const Napi::Object& o, const char* fn);
size_t need_a(const GemmArgs& g); // elements of A the shape reads
size_t need_b(const GemmArgs& g);

// Kernel bindings report errors as E_ENGINE "kernel error: ..." (see napi_guard.h).
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value kernel_guarded(const Napi::CallbackInfo& info) {
  return run_guarded(info, "E_ENGINE", "kernel error: ", [&] { return F(info); });
}

} // namespace peft::binding
