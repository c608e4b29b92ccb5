// Test-addon bindings of the fused training ops (exports.ops): the chunked cross-entropy (fp32 reference path or
// bf16 kernel) and the blocked attention forward / backward (fp32 or bf16), on typed arrays with compact strides.
// Arguments are validated (integers in range, typed-array lengths vs shape); errors are JS Errors with `code`.
#include <napi.h>
#include <cmath>
#include <string>
#include <vector>
#include "error.h"
#include "binding/napi_guard.h"
#include "kernels/kernels.h"
#include "ops/ops.h"

namespace peft {
namespace {

[[noreturn]] void bad(const std::string& msg) { throw EngineError("E_ENGINE", msg); }

int int_of(const Napi::Object& o, const char* fn, const char* key, int lo, int hi, int dflt = -1) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() && dflt >= 0) return dflt;
  if (!v.IsNumber()) bad(std::string(fn) + ": '" + key + "' must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (d != std::floor(d) || d < lo || d > hi)
    bad(std::string(fn) + ": '" + key + "' must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
        "]");
  return (int)d;
}

bool bool_of(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() && v.As<Napi::Boolean>().Value();
}

template <typename T, napi_typedarray_type KIND>
Napi::TypedArrayOf<T> arr(const Napi::Object& o, const char* fn, const char* key, size_t need, const char* tname) {
  Napi::Value v = o.Get(key);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != KIND)
    bad(std::string(fn) + ": '" + key + "' must be a " + tname);
  auto a = v.As<Napi::TypedArrayOf<T>>();
  if (a.ElementLength() != need)
    bad(std::string(fn) + ": '" + key + "' has " + std::to_string(a.ElementLength()) + " elements, the shape needs " +
        std::to_string(need));
  return a;
}
auto f32(const Napi::Object& o, const char* fn, const char* key, size_t need) {
  return arr<float, napi_float32_array>(o, fn, key, need, "Float32Array");
}

Napi::Float32Array copy_out(Napi::Env env, const std::vector<float>& v) {
  auto a = Napi::Float32Array::New(env, v.size());
  std::copy(v.begin(), v.end(), a.Data());
  return a;
}

// ops.crossEntropy({h [N*C], W [V*C], targets Int32Array [N] (-1 = ignored), N, C, V, gradScale, bf16, backward})
// -> {loss (sum over kept rows), dh [N*C] when backward}
Napi::Value CrossEntropy(const Napi::CallbackInfo& info) {
  const char* fn = "ops.crossEntropy";
  if (info.Length() < 1 || !info[0].IsObject()) bad(std::string(fn) + ": an options object is required");
  Napi::Object o = info[0].As<Napi::Object>();
  const int N = int_of(o, fn, "N", 1, 1 << 20), C = int_of(o, fn, "C", 1, 1 << 16), V = int_of(o, fn, "V", 1, 1 << 20);
  auto h = f32(o, fn, "h", (size_t)N * C);
  auto W = f32(o, fn, "W", (size_t)V * C);
  auto t = arr<int32_t, napi_int32_array>(o, fn, "targets", N, "Int32Array");
  for (int r = 0; r < N; r++)
    if (t[r] >= V)
      bad(std::string(fn) + ": target " + std::to_string(t[r]) + " at row " + std::to_string(r) + " is >= V");
  Napi::Value gs = o.Get("gradScale");
  const float scale = gs.IsNumber() ? gs.As<Napi::Number>().FloatValue() : 1.f;
  const bool backward = bool_of(o, "backward"), bf16 = bool_of(o, "bf16");
  std::vector<uint16_t> W16;
  if (bf16) {
    W16.resize((size_t)V * C);
    kern::f32_to_bf16(W.Data(), W16.data(), W16.size());
  }
  std::vector<float> dh(backward ? (size_t)N * C : 0, 0.f);
  const double loss = ops::cross_entropy_forward_backward(backward ? dh.data() : nullptr, h.Data(), W.Data(),
                                                          bf16 ? W16.data() : nullptr, t.Data(), N, C, V, scale);
  Napi::Object r = Napi::Object::New(info.Env());
  r.Set("loss", loss);
  if (backward) r.Set("dh", copy_out(info.Env(), dh));
  return r;
}

ops::AttnShape attn_shape(const Napi::Object& o, const char* fn) {
  ops::AttnShape s{};
  s.batch = int_of(o, fn, "batch", 1, 4096, 1);
  s.T = int_of(o, fn, "T", 1, 1 << 16);
  s.pos0 = int_of(o, fn, "pos0", 0, 1 << 20, 0);
  s.Tk = s.pos0 + s.T;
  s.nh = int_of(o, fn, "nh", 1, 1024);
  s.nkv = int_of(o, fn, "nkv", 1, 1024);
  s.hd = int_of(o, fn, "hd", 1, 1024);
  s.window = int_of(o, fn, "window", 0, 1 << 20, 0);
  if (s.nh % s.nkv) bad(std::string(fn) + ": nh must be a multiple of nkv");
  s.q_stride = s.nh * s.hd;
  s.kv_stride = s.nkv * s.hd;
  s.bf16 = bool_of(o, "bf16");
  return s;
}

// ops.attention({q [batch*T*nh*hd], k, v [batch*Tk*nkv*hd], T, pos0, nh, nkv, hd, window, batch, bf16, dout?})
// -> {out, lse [batch*nh*T]} and, when dout is given, {dq, dk, dv} too. Tk = pos0 + T keys per sequence.
Napi::Value Attention(const Napi::CallbackInfo& info) {
  const char* fn = "ops.attention";
  if (info.Length() < 1 || !info[0].IsObject()) bad(std::string(fn) + ": an options object is required");
  Napi::Object o = info[0].As<Napi::Object>();
  const ops::AttnShape s = attn_shape(o, fn);
  const size_t nq = (size_t)s.batch * s.T * s.q_stride, nk = (size_t)s.batch * s.Tk * s.kv_stride;
  auto q = f32(o, fn, "q", nq);
  auto k = f32(o, fn, "k", nk);
  auto v = f32(o, fn, "v", nk);
  std::vector<float> out(nq), lse((size_t)s.batch * s.nh * s.T);
  ops::attention_forward(out.data(), lse.data(), q.Data(), k.Data(), v.Data(), s);
  Napi::Object r = Napi::Object::New(info.Env());
  r.Set("out", copy_out(info.Env(), out));
  r.Set("lse", copy_out(info.Env(), lse));
  if (!o.Get("dout").IsUndefined()) {
    auto dout = f32(o, fn, "dout", nq);
    std::vector<float> dq(nq), dk(nk, 0.f), dv(nk, 0.f);
    ops::attention_backward(dq.data(), dk.data(), dv.data(), dout.Data(), out.data(), q.Data(), k.Data(), v.Data(),
                            lse.data(), s);
    r.Set("dq", copy_out(info.Env(), dq));
    r.Set("dk", copy_out(info.Env(), dk));
    r.Set("dv", copy_out(info.Env(), dv));
  }
  return r;
}

template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  return run_guarded(info, "E_ENGINE", "op error: ", [&] { return F(info); });
}

} // namespace

// ops.rmsnorm({x [N*C], w [C], N, C, eps, residual?: [N*C]}) -> {out, rstd, x2?}: RMSNorm of x, or with `residual`
// the fused add + norm (x2 = x + residual, out = rmsnorm(x2)).
Napi::Value RmsNorm(const Napi::CallbackInfo& info) {
  const char* fn = "ops.rmsnorm";
  if (info.Length() < 1 || !info[0].IsObject()) bad(std::string(fn) + ": an options object is required");
  Napi::Object o = info[0].As<Napi::Object>();
  const int N = int_of(o, fn, "N", 1, 1 << 20), C = int_of(o, fn, "C", 1, 1 << 16);
  Napi::Value ev = o.Get("eps");
  if (!ev.IsNumber() || !(ev.As<Napi::Number>().DoubleValue() > 0))
    bad(std::string(fn) + ": 'eps' must be a positive number");
  const float eps = (float)ev.As<Napi::Number>().DoubleValue();
  auto x = f32(o, fn, "x", (size_t)N * C);
  auto w = f32(o, fn, "w", (size_t)C);
  std::vector<float> out((size_t)N * C), rstd(N);
  Napi::Object r = Napi::Object::New(info.Env());
  if (o.Get("residual").IsUndefined()) {
    ops::rmsnorm_forward(out.data(), rstd.data(), x.Data(), w.Data(), N, C, eps);
  } else {
    auto res = f32(o, fn, "residual", (size_t)N * C);
    std::vector<float> x2(x.Data(), x.Data() + (size_t)N * C);
    ops::add_rmsnorm_forward(x2.data(), res.Data(), out.data(), rstd.data(), w.Data(), N, C, eps);
    r.Set("x2", copy_out(info.Env(), x2));
  }
  r.Set("out", copy_out(info.Env(), out));
  r.Set("rstd", copy_out(info.Env(), rstd));
  return r;
}

void register_ops_bindings(Napi::Env env, Napi::Object exports) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("crossEntropy", Napi::Function::New(env, guarded<CrossEntropy>));
  o.Set("rmsnorm", Napi::Function::New(env, guarded<RmsNorm>));
  o.Set("attention", Napi::Function::New(env, guarded<Attention>));
  exports.Set("ops", o);
}

} // namespace peft
