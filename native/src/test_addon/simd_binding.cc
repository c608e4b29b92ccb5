// Test-addon bindings of the per-ISA element-wise kernels (exports.kernels.simd*), run on the active kernel ISA
// (kernels.setIsa): the exp row reductions, SwiGLU forward / backward (vectorised path), the RMSNorm backward, the
// attention softmax backward row and the narrow products, so tests can hold every ISA's body to a float64 reference
// and to the others.
#include <napi.h>
#include <string>
#include <vector>
#include "binding/kernel_args.h"
#include "error.h"
#include "kernels/kernels.h"
#include "kernels/simd.h"
#include "kernels/vexp.h"
#include "ops/ops.h"

namespace peft {
namespace {

using namespace peft::binding;

Napi::Float32Array f32_in(const Napi::Object& o, const char* fn, const char* key, size_t need) {
  Napi::Value v = o.Get(key);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw EngineError("E_ENGINE", std::string(fn) + ": '" + key + "' must be a Float32Array");
  auto a = v.As<Napi::Float32Array>();
  if (need && a.ElementLength() != need)
    throw EngineError("E_ENGINE", std::string(fn) + ": '" + key + "' must have " + std::to_string(need) + " elements");
  return a;
}

Napi::Float32Array out(Napi::Env env, const std::vector<float>& v) {
  auto a = Napi::Float32Array::New(env, v.size());
  std::copy(v.begin(), v.end(), a.Data());
  return a;
}

// kernels.simdRowExp({x, m, scale}) -> {max, sumexp, scaled}: vmax(x), vsumexp(x, m), x with vexp_scale(m, scale).
Napi::Value RowExp(const Napi::CallbackInfo& info) {
  const char* fn = "simdRowExp";
  Napi::Object o = obj_arg(info, 0, fn);
  auto x = f32_in(o, fn, "x", 0);
  const float m = float_field(o, fn, "m", 0.f), scale = float_field(o, fn, "scale", 1.f);
  std::vector<float> y(x.Data(), x.Data() + x.ElementLength());
  Napi::Object r = Napi::Object::New(info.Env());
  r.Set("max", kern::vmax(y.data(), y.size()));
  r.Set("sumexp", kern::vsumexp(y.data(), y.size(), m));
  kern::vexp_scale(y.data(), y.size(), m, scale);
  r.Set("scaled", out(info.Env(), y));
  return r;
}

// kernels.simdSwiglu({g, u, dh}) -> {h, dg, du}: the vectorised (fast) forward and backward.
Napi::Value Swiglu(const Napi::CallbackInfo& info) {
  const char* fn = "simdSwiglu";
  Napi::Object o = obj_arg(info, 0, fn);
  auto g = f32_in(o, fn, "g", 0);
  const size_t n = g.ElementLength();
  auto u = f32_in(o, fn, "u", n), dh = f32_in(o, fn, "dh", n);
  std::vector<float> h(n), dg(n), du(n);
  ops::swiglu_forward(h.data(), g.Data(), u.Data(), n, true);
  ops::swiglu_backward(dg.data(), du.data(), dh.Data(), g.Data(), u.Data(), n, true);
  Napi::Object r = Napi::Object::New(info.Env());
  r.Set("h", out(info.Env(), h));
  r.Set("dg", out(info.Env(), dg));
  r.Set("du", out(info.Env(), du));
  return r;
}

// kernels.simdRmsnormBackward({dout, x, w, rstd, N, C}) -> dx (from zero).
Napi::Value RmsnormBackward(const Napi::CallbackInfo& info) {
  const char* fn = "simdRmsnormBackward";
  Napi::Object o = obj_arg(info, 0, fn);
  const int N = int_field(o, fn, "N", 1, 1 << 20, 0, true), C = int_field(o, fn, "C", 1, 1 << 16, 0, true);
  auto dout = f32_in(o, fn, "dout", (size_t)N * C), x = f32_in(o, fn, "x", (size_t)N * C);
  auto w = f32_in(o, fn, "w", (size_t)C), rstd = f32_in(o, fn, "rstd", (size_t)N);
  std::vector<float> dx((size_t)N * C, 0.f);
  ops::rmsnorm_backward(dx.data(), dout.Data(), x.Data(), w.Data(), rstd.Data(), N, C);
  return out(info.Env(), dx);
}

// kernels.simdSoftmaxBwdRow({p, dp, D, scale}) -> dp (p (dp - D) scale).
Napi::Value SoftmaxBwdRow(const Napi::CallbackInfo& info) {
  const char* fn = "simdSoftmaxBwdRow";
  Napi::Object o = obj_arg(info, 0, fn);
  auto p = f32_in(o, fn, "p", 0);
  auto dp = f32_in(o, fn, "dp", p.ElementLength());
  std::vector<float> y(dp.Data(), dp.Data() + dp.ElementLength());
  kern::simd().softmax_bwd_row(y.data(), p.Data(), y.size(), (float)num(o.Get("D"), "simdSoftmaxBwdRow: 'D'"),
                               (float)num(o.Get("scale"), "simdSoftmaxBwdRow: 'scale'"));
  return out(info.Env(), y);
}

// kernels.gemmNarrow({transA, M, N, K, alpha, A, lda, B, ldb, C, ldc, accumulate}) -> the new C, or null where the
// active ISA has no narrow kernel for N (kern::gemm_narrow).
Napi::Value GemmNarrow(const Napi::CallbackInfo& info) {
  const char* fn = "gemmNarrow";
  Napi::Object o = obj_arg(info, 0, fn);
  const bool tA = o.Get("transA").ToBoolean(), acc = o.Get("accumulate").ToBoolean();
  const int M = int_field(o, fn, "M", 1, 1 << 16, 0, true), N = int_field(o, fn, "N", 1, 1 << 16, 0, true);
  const int K = int_field(o, fn, "K", 1, 1 << 16, 0, true);
  const int lda = int_field(o, fn, "lda", tA ? M : K, 1 << 20, tA ? M : K, false);
  const int ldb = int_field(o, fn, "ldb", N, 1 << 20, N, false), ldc = int_field(o, fn, "ldc", N, 1 << 20, N, false);
  auto A = f32_in(o, fn, "A", (size_t)(tA ? K : M) * lda), B = f32_in(o, fn, "B", (size_t)K * ldb);
  auto C0 = f32_in(o, fn, "C", (size_t)M * ldc);
  std::vector<float> C(C0.Data(), C0.Data() + C0.ElementLength());
  const float alpha = (float)num(o.Get("alpha"), "gemmNarrow: 'alpha'");
  if (!kern::gemm_narrow(tA, M, N, K, alpha, A.Data(), lda, B.Data(), ldb, acc, C.data(), ldc))
    return info.Env().Null();
  return out(info.Env(), C);
}

} // namespace

void register_simd_test_bindings(Napi::Env env, Napi::Object kernels) {
  kernels.Set("simdRowExp", Napi::Function::New(env, kernel_guarded<RowExp>));
  kernels.Set("simdSwiglu", Napi::Function::New(env, kernel_guarded<Swiglu>));
  kernels.Set("simdRmsnormBackward", Napi::Function::New(env, kernel_guarded<RmsnormBackward>));
  kernels.Set("simdSoftmaxBwdRow", Napi::Function::New(env, kernel_guarded<SoftmaxBwdRow>));
  kernels.Set("gemmNarrow", Napi::Function::New(env, kernel_guarded<GemmNarrow>));
}

} // namespace peft
