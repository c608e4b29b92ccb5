// Test-addon bindings of the compute kernels (exports.kernels): sgemm (and its route) / gemm_bf16 on typed arrays, bf16
// conversion, NF4 quantize / dequantize, FrozenLinear handles, threads - for tests and benchmarks (introspection:
// kernel_info.cc).
// Every argument is validated (type, integer range, typed-array length vs shape); errors are JS Errors with `code`.
#include <napi.h>
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>
#include "backend/backend.h"
#include "binding/kernel_args.h"
#include "error.h"
#include "kernels/decode_rows.h"
#include "kernels/gemm_bf16_internal.h"
#include "kernels/isa.h"
#include "kernels/kernels.h"
#include "kernels/linear.h"
#include "kernels/nf4.h"
#include "kernels/sgemm_builtin.h"
#include "kernels/sgemm_onednn.h"
#include "kernels/sgemm_route.h"
#ifdef PEFT_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace peft {
namespace {

using namespace peft::kern;
using namespace peft::binding;

template <typename T, napi_typedarray_type KIND>
Napi::TypedArrayOf<T> typed(const Napi::Value& v, const std::string& what, const char* tname, size_t need) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != KIND) bad(what + " must be a " + tname);
  auto a = v.As<Napi::TypedArrayOf<T>>();
  if (a.ElementLength() < need)
    bad(what + " has " + std::to_string(a.ElementLength()) + " elements but the shape needs " + std::to_string(need));
  return a;
}
auto f32arr(const Napi::Value& v, const std::string& what, size_t need) {
  return typed<float, napi_float32_array>(v, what, "Float32Array", need);
}
auto u16arr(const Napi::Value& v, const std::string& what, size_t need) {
  return typed<uint16_t, napi_uint16_array>(v, what, "Uint16Array (bf16 bits)", need);
}
auto u8arr(const Napi::Value& v, const std::string& what, size_t need) {
  return typed<uint8_t, napi_uint8_array>(v, what, "Uint8Array", need);
}

// kernels.sgemm({transA, transB, M, N, K, alpha, beta, A, lda, B, ldb, C, ldc, builtin?}): C updated in place and
// returned; builtin: true runs the built-in blocked kernel, openblas: true one single-threaded OpenBLAS call, onednn:
// true one single-threaded oneDNN call by the routing rule (sgemm_onednn.h; refused for transposed A or K = 0), or
// "matmul" / "gemm" that oneDNN routine whatever the rule says (benches).
Napi::Value Sgemm(const Napi::CallbackInfo& info) {
  Napi::Object o = obj_arg(info, 0, "sgemm");
  const GemmArgs g = gemm_args(o, "sgemm");
  auto A = f32arr(o.Get("A"), "sgemm: 'A'", need_a(g));
  auto B = f32arr(o.Get("B"), "sgemm: 'B'", need_b(g));
  auto C = f32arr(o.Get("C"), "sgemm: 'C'", span(g.M, g.N, g.ldc));
  if (bool_field(o, "sgemm", "builtin", false)) { // the built-in blocked kernel, whatever the build links
    sgemm_builtin(g.tA, g.tB, g.M, g.N, g.K, g.alpha, A.Data(), g.lda, B.Data(), g.ldb, g.beta, C.Data(), g.ldc, true);
    return C;
  }
  if (bool_field(o, "sgemm", "openblas", false)) { // OpenBLAS alone (single call, its own threads = 1): for benches
#ifdef PEFT_HAVE_OPENBLAS
    if (g.K > 0) {
      cblas_sgemm(CblasRowMajor, g.tA ? CblasTrans : CblasNoTrans, g.tB ? CblasTrans : CblasNoTrans, g.M, g.N, g.K,
                  g.alpha, A.Data(), g.lda, B.Data(), g.ldb, g.beta, C.Data(), g.ldc);
      return C;
    }
#else
    bad("sgemm: this build has no OpenBLAS (install libopenblas-dev and rebuild)");
#endif
  }
  const Napi::Value od = o.Get("onednn");
  if (od.IsString() || (od.IsBoolean() && od.As<Napi::Boolean>().Value())) { // oneDNN alone, whatever sgemm picks here
    if (!sgemm_onednn_linked()) bad("sgemm: this build has no oneDNN (install libdnnl-dev and rebuild)");
    OnednnSgemm r = sgemm_onednn_route(g.tA, g.tB, g.K);
    if (od.IsString()) {
      const std::string v = od.As<Napi::String>().Utf8Value();
      if (v != "matmul" && v != "gemm") bad("sgemm: 'onednn' must be true, \"matmul\" or \"gemm\"");
      r = v == "matmul" ? OnednnSgemm::Matmul : OnednnSgemm::Gemm;
    }
    if (r == OnednnSgemm::None || g.K == 0) bad("sgemm: no oneDNN routine for transposed A or K = 0");
    sgemm_onednn(r, g.tA, g.tB, g.M, g.N, g.K, g.alpha, A.Data(), g.lda, B.Data(), g.ldb, g.beta, C.Data(), g.ldc);
    return C;
  }
  sgemm(g.tA, g.tB, g.M, g.N, g.K, g.alpha, A.Data(), g.lda, B.Data(), g.ldb, g.beta, C.Data(), g.ldc);
  return C;
}

// kernels.sgemmRoute({transA, transB, M, N, K, alpha, ...}): where sgemm runs that call ("onednn-matmul",
// "onednn-gemm", "openblas", "builtin"), and oneDNN's implementation for it when it is the matmul primitive.
Napi::Value SgemmRoute(const Napi::CallbackInfo& info) {
  Napi::Object o = obj_arg(info, 0, "sgemmRoute");
  const GemmArgs g = gemm_args(o, "sgemmRoute");
  Napi::Object r = Napi::Object::New(info.Env());
  const std::string route = sgemm_route(g.tA, g.tB, g.N, g.K, g.alpha);
  r.Set("route", route);
  if (route == "onednn-matmul")
    r.Set("impl", sgemm_onednn_impl(g.tA, g.tB, g.M, g.N, g.K, g.alpha, g.lda, g.ldb, g.beta, g.ldc));
  return r;
}

// kernels.gemmBf16({... A: Uint16Array, B: Uint16Array, C: Float32Array}): bf16 inputs, fp32 C in place.
Napi::Value GemmBf16(const Napi::CallbackInfo& info) {
  Napi::Object o = obj_arg(info, 0, "gemmBf16");
  const GemmArgs g = gemm_args(o, "gemmBf16");
  auto A = u16arr(o.Get("A"), "gemmBf16: 'A'", need_a(g));
  auto B = u16arr(o.Get("B"), "gemmBf16: 'B'", need_b(g));
  auto C = f32arr(o.Get("C"), "gemmBf16: 'C'", span(g.M, g.N, g.ldc));
  gemm_bf16(g.tA, g.tB, g.M, g.N, g.K, g.alpha, A.Data(), g.lda, B.Data(), g.ldb, g.beta, C.Data(), g.ldc);
  return C;
}

Napi::Value F32ToBf16(const Napi::CallbackInfo& info) {
  if (info.Length() < 1) bad("f32ToBf16(x): x must be a Float32Array");
  auto x = f32arr(info[0], "f32ToBf16: x", 0);
  auto y = Napi::Uint16Array::New(info.Env(), x.ElementLength());
  f32_to_bf16(x.Data(), y.Data(), x.ElementLength());
  return y;
}

Napi::Value Bf16ToF32(const Napi::CallbackInfo& info) {
  if (info.Length() < 1) bad("bf16ToF32(x): x must be a Uint16Array");
  auto x = u16arr(info[0], "bf16ToF32: x", 0);
  auto y = Napi::Float32Array::New(info.Env(), x.ElementLength());
  bf16_to_f32(x.Data(), y.Data(), x.ElementLength());
  return y;
}

Napi::Value Nf4Code(const Napi::CallbackInfo& info) {
  auto y = Napi::Float32Array::New(info.Env(), 16);
  std::memcpy(y.Data(), NF4_CODE, sizeof(NF4_CODE));
  return y;
}

// kernels.setIsa("avx512" | "avx2" | "scalar") -> the active ISA of the dispatched decode kernels (refused when the CPU
// or the build lacks it), so one test process can hold every path to the same reference.
Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) bad("setIsa: the argument must be \"avx512\", \"avx2\" or \"scalar\"");
  set_isa(info[0].As<Napi::String>().Utf8Value());
  return Napi::String::New(info.Env(), isa_name(active_isa()));
}

// kernels.nf4Quantize(w: Float32Array | Uint16Array (bf16 bits: nf4_quantize_bf16), rows, cols) -> {rows, cols,
// packed, absmaxQ (int8 bits), absmaxScale, absmaxOffset, blockAbsmax (decoded, one per 64-block), bytes}
Napi::Value Nf4Quantize(const Napi::CallbackInfo& info) {
  if (info.Length() < 3) bad("nf4Quantize(w, rows, cols): three arguments needed");
  const int rows = int_in(info[1], "nf4Quantize: rows", 1, 1 << 24),
            cols = int_in(info[2], "nf4Quantize: cols", 1, 1 << 24);
  const size_t n = (size_t)rows * cols;
  NF4Tensor t;
  const bool bf16 = info[0].IsTypedArray() && info[0].As<Napi::TypedArray>().TypedArrayType() == napi_uint16_array;
  if (bf16) {
    auto w = u16arr(info[0], "nf4Quantize: w", n);
    if (w.ElementLength() != n)
      bad("nf4Quantize: w has " + std::to_string(w.ElementLength()) + " elements, rows*cols = " + std::to_string(n));
    nf4_quantize_bf16(w.Data(), rows, cols, t);
  } else {
    auto w = f32arr(info[0], "nf4Quantize: w", n);
    if (w.ElementLength() != n)
      bad("nf4Quantize: w has " + std::to_string(w.ElementLength()) + " elements, rows*cols = " + std::to_string(n));
    nf4_quantize(w.Data(), rows, cols, t);
  }
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  auto packed = Napi::Uint8Array::New(env, t.packed.size());
  std::memcpy(packed.Data(), t.packed.data(), t.packed.size());
  auto aq = Napi::Uint8Array::New(env, t.absmax_q.size());
  std::memcpy(aq.Data(), t.absmax_q.data(), t.absmax_q.size());
  auto as = Napi::Float32Array::New(env, t.absmax_scale.size());
  std::memcpy(as.Data(), t.absmax_scale.data(), t.absmax_scale.size() * 4);
  auto dec = Napi::Float32Array::New(env, t.absmax_q.size());
  for (size_t b = 0; b < t.absmax_q.size(); b++) dec[b] = nf4_block_absmax(t, b);
  o.Set("rows", rows);
  o.Set("cols", cols);
  o.Set("packed", packed);
  o.Set("absmaxQ", aq);
  o.Set("absmaxScale", as);
  o.Set("absmaxOffset", t.absmax_offset);
  o.Set("blockAbsmax", dec);
  o.Set("bytes", (double)t.bytes());
  return o;
}

NF4Tensor nf4_from_js(const Napi::Value& v) {
  if (!v.IsObject()) bad("nf4Dequantize: first argument must be the object nf4Quantize returned");
  Napi::Object o = v.As<Napi::Object>();
  NF4Tensor t;
  t.rows = int_field(o, "nf4Dequantize", "rows", 1, 1 << 24, 0, true);
  t.cols = int_field(o, "nf4Dequantize", "cols", 1, 1 << 24, 0, true);
  const size_t n = (size_t)t.rows * t.cols;
  if (n % NF4_BLOCK) bad("nf4Dequantize: rows*cols must be a multiple of 64");
  const size_t nb = n / NF4_BLOCK, nsb = (nb + NF4_DQ_BLOCK - 1) / NF4_DQ_BLOCK;
  auto p = u8arr(o.Get("packed"), "nf4Dequantize: 'packed'", n / 2);
  auto aq = u8arr(o.Get("absmaxQ"), "nf4Dequantize: 'absmaxQ'", nb);
  auto as = f32arr(o.Get("absmaxScale"), "nf4Dequantize: 'absmaxScale'", nsb);
  t.packed.assign(p.Data(), p.Data() + n / 2);
  t.absmax_q.assign(aq.Data(), aq.Data() + nb);
  t.absmax_scale.assign(as.Data(), as.Data() + nsb);
  t.absmax_offset = (float)num(o.Get("absmaxOffset"), "nf4Dequantize: 'absmaxOffset'");
  return t;
}

// kernels.nf4Dequantize(q, {bf16?, row0?, rows?}) -> Float32Array, or Uint16Array of bf16 bits with bf16: true.
Napi::Value Nf4Dequantize(const Napi::CallbackInfo& info) {
  if (info.Length() < 1) bad("nf4Dequantize(q, opts?): q is required");
  const NF4Tensor t = nf4_from_js(info[0]);
  Napi::Object o =
      info.Length() > 1 && !info[1].IsUndefined() ? obj_arg(info, 1, "nf4Dequantize") : Napi::Object::New(info.Env());
  const bool to16 = bool_field(o, "nf4Dequantize", "bf16", false);
  const int row0 = int_field(o, "nf4Dequantize", "row0", 0, t.rows, 0, false);
  const int rows = int_field(o, "nf4Dequantize", "rows", 0, t.rows - row0, t.rows - row0, false);
  const size_t n = (size_t)rows * t.cols;
  if (to16) {
    auto y = Napi::Uint16Array::New(info.Env(), n);
    nf4_dequantize_bf16(t, row0, rows, y.Data());
    return y;
  }
  auto y = Napi::Float32Array::New(info.Env(), n);
  nf4_dequantize_f32(t, row0, rows, y.Data());
  return y;
}

Storage storage_of(const Napi::Value& v) {
  const std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (s == "f32") return Storage::F32;
  if (s == "bf16") return Storage::BF16;
  if (s == "nf4") return Storage::NF4;
  bad("frozenLinear: 'storage' must be \"f32\", \"bf16\" or \"nf4\"");
}

Compute compute_of(const Napi::Value& v, const char* fn) {
  const std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (s == "f32" || s == "fp32") return Compute::F32;
  if (s == "bf16") return Compute::BF16;
  bad(std::string(fn) + ": compute must be \"fp32\" or \"bf16\"");
}

FrozenLinear* linear_of(const Napi::Value& v, const char* fn) {
  if (!v.IsExternal()) bad(std::string(fn) + ": first argument must be a handle from kernels.frozenLinear");
  auto* l = v.As<Napi::External<FrozenLinear>>().Data();
  if (!l) bad(std::string(fn) + ": invalid handle");
  return l;
}

// kernels.frozenLinear({w: Float32Array [out*in], bias?: Float32Array [out], out, in, storage}) -> handle
Napi::Value MakeFrozenLinear(const Napi::CallbackInfo& info) {
  Napi::Object o = obj_arg(info, 0, "frozenLinear");
  const int out = int_field(o, "frozenLinear", "out", 1, 1 << 24, 0, true),
            in = int_field(o, "frozenLinear", "in", 1, 1 << 24, 0, true);
  const size_t n = (size_t)out * in;
  auto w = f32arr(o.Get("w"), "frozenLinear: 'w'", n);
  if (w.ElementLength() != n)
    bad("frozenLinear: 'w' has " + std::to_string(w.ElementLength()) + " elements, out*in = " + std::to_string(n));
  const float* bias = nullptr;
  Napi::Value bv = o.Get("bias");
  if (!bv.IsUndefined() && !bv.IsNull()) {
    auto b = f32arr(bv, "frozenLinear: 'bias'", (size_t)out);
    if (b.ElementLength() != (size_t)out)
      bad("frozenLinear: 'bias' must have out = " + std::to_string(out) + " elements");
    bias = b.Data();
  }
  auto* l = new FrozenLinear(w.Data(), bias, out, in, storage_of(o.Get("storage")));
  return Napi::External<FrozenLinear>::New(info.Env(), l, [](Napi::Env, FrozenLinear* p) { delete p; });
}

// kernels.frozenLinearForward(h, x: Float32Array [T*in], T, compute, y?) -> y Float32Array [T*out]
Napi::Value FrozenLinearForward(const Napi::CallbackInfo& info) {
  if (info.Length() < 4) bad("frozenLinearForward(h, x, T, compute): four arguments needed");
  const FrozenLinear* l = linear_of(info[0], "frozenLinearForward");
  const int T = int_in(info[2], "frozenLinearForward: T", 0, 1 << 24);
  auto x = f32arr(info[1], "frozenLinearForward: x", (size_t)T * l->in());
  const Compute c = compute_of(info[3], "frozenLinearForward");
  // optional 5th argument: an output array to reuse (benchmarks: no 10 MB zero-filled allocation per call)
  auto y = info.Length() > 4 && !info[4].IsUndefined() ? f32arr(info[4], "frozenLinearForward: y", (size_t)T * l->out())
                                                       : Napi::Float32Array::New(info.Env(), (size_t)T * l->out());
  l->forward(y.Data(), x.Data(), T, c);
  return y;
}

// kernels.decodeRowsLinear(h, x: Float32Array [T*in], T, bf16?) -> y [T*out]: batched decoding's row-independent
// product (decode/rows_matmul through the CPU backend, the active ISA's variant; bf16: its AVX512-BF16 mode).
Napi::Value DecodeRowsLinear(const Napi::CallbackInfo& info) {
  if (info.Length() < 3) bad("decodeRowsLinear(h, x, T, bf16?): three arguments needed");
  const FrozenLinear* l = linear_of(info[0], "decodeRowsLinear");
  const int T = int_in(info[2], "decodeRowsLinear: T", 0, 1 << 24);
  auto x = f32arr(info[1], "decodeRowsLinear: x", (size_t)T * l->in());
  auto y = Napi::Float32Array::New(info.Env(), (size_t)T * l->out());
  const bool bf16 = info.Length() > 3 && info[3].ToBoolean();
  if (bf16 && !peft::cpu_backend().decode_rows_bf16_available())
    bad("decodeRowsLinear: the bf16 mode needs AVX512-BF16 (kernels.decodeRowsBf16Available())");
  peft::cpu_backend().decode_rows_linear(*l, y.Data(), x.Data(), T, bf16);
  return y;
}

// kernels.decodeRowsF32(W: Float32Array [out*in], out, in, x [T*in], T) -> y [T*out] (the lm_head / LoRA product).
Napi::Value DecodeRowsF32(const Napi::CallbackInfo& info) {
  if (info.Length() < 5) bad("decodeRowsF32(W, out, in, x, T): five arguments needed");
  const int out = int_in(info[1], "decodeRowsF32: out", 1, 1 << 24),
            in = int_in(info[2], "decodeRowsF32: in", 1, 1 << 24);
  const int T = int_in(info[4], "decodeRowsF32: T", 0, 1 << 24);
  auto W = f32arr(info[0], "decodeRowsF32: W", (size_t)out * in);
  auto x = f32arr(info[3], "decodeRowsF32: x", (size_t)T * in);
  auto y = Napi::Float32Array::New(info.Env(), (size_t)T * out);
  peft::cpu_backend().decode_rows_f32(W.Data(), out, in, x.Data(), T, y.Data());
  return y;
}

// kernels.decodeRowsBf16Available() -> whether decodeRowsLinear's bf16 mode runs on this CPU, build and ISA.
Napi::Value DecodeRowsBf16Available(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), peft::cpu_backend().decode_rows_bf16_available());
}

// kernels.decodeRows(h, x [T*in], T, bf16?) -> y [T*out]: the decoding product (kernels/decode_rows.h) on the active
// ISA, all output rows in one call on this thread (bf16: the weight's bf16 copy, made here if it has none).
Napi::Value DecodeRows(const Napi::CallbackInfo& info) {
  if (info.Length() < 3) bad("decodeRows(h, x, T): three arguments needed");
  const FrozenLinear* l = linear_of(info[0], "decodeRows");
  const int T = int_in(info[2], "decodeRows: T", 1, 32);
  auto x = f32arr(info[1], "decodeRows: x", (size_t)T * l->in());
  if (!decode_rows_supported(*l))
    bad("decodeRows: the weight is neither fp32, bf16 (with bf16 compute) nor NF4 with whole blocks per row");
  const bool bf16 = info.Length() > 3 && info[3].ToBoolean();
  if (bf16) const_cast<FrozenLinear*>(l)->keep_bf16_copy();
  auto y = Napi::Float32Array::New(info.Env(), (size_t)T * l->out());
  std::vector<float> buf;
  const float* xn = nullptr;
  if (l->storage() == Storage::NF4)
    xn = decode_prepare_nf4(x.Data(), T, l->in(), buf);
  else if (l->storage() == Storage::BF16 || bf16) {
    decode_prepare_bf16(x.Data(), T, l->in(), buf);
    xn = buf.data();
  }
  decode_rows(*l, x.Data(), xn, T, y.Data(), 0, l->out(), bf16);
  return y;
}

// kernels.frozenLinearBackward(h, dx: Float32Array [T*in] (accumulated into), dy [T*out], T, compute) -> dx
Napi::Value FrozenLinearBackward(const Napi::CallbackInfo& info) {
  if (info.Length() < 5) bad("frozenLinearBackward(h, dx, dy, T, compute): five arguments needed");
  const FrozenLinear* l = linear_of(info[0], "frozenLinearBackward");
  const int T = int_in(info[3], "frozenLinearBackward: T", 0, 1 << 24);
  auto dx = f32arr(info[1], "frozenLinearBackward: dx", (size_t)T * l->in());
  auto dy = f32arr(info[2], "frozenLinearBackward: dy", (size_t)T * l->out());
  l->backward_input(dx.Data(), dy.Data(), T, compute_of(info[4], "frozenLinearBackward"));
  return dx;
}

// f32 values to a bf16 vector (the aug bindings take fp32 arrays, as the engine converts its activations).
std::vector<uint16_t> to_bf16_vec(const Napi::Float32Array& a) {
  std::vector<uint16_t> v(a.ElementLength());
  f32_to_bf16(a.Data(), v.data(), v.size());
  return v;
}

// kernels.frozenLinearForwardAug(h, xa [T*(in+ke)], T, E [out*ke], ke) -> y [T*out]: y = xa [W | E]^T + bias, bf16
// operands (xa and E rounded to bf16 here), the folded-LoRA forward.
Napi::Value FrozenLinearForwardAug(const Napi::CallbackInfo& info) {
  if (info.Length() < 5) bad("frozenLinearForwardAug(h, xa, T, E, ke): five arguments needed");
  const FrozenLinear* l = linear_of(info[0], "frozenLinearForwardAug");
  const int T = int_in(info[2], "frozenLinearForwardAug: T", 0, 1 << 24);
  const int ke = int_in(info[4], "frozenLinearForwardAug: ke", 0, 1 << 16);
  auto xa = f32arr(info[1], "frozenLinearForwardAug: xa", (size_t)T * (l->in() + ke));
  auto E = f32arr(info[3], "frozenLinearForwardAug: E", (size_t)l->out() * ke);
  auto y = Napi::Float32Array::New(info.Env(), (size_t)T * l->out());
  const auto xa16 = to_bf16_vec(xa), E16 = to_bf16_vec(E);
  l->forward_bf16_aug(y.Data(), xa16.data(), T, E16.data(), ke);
  return y;
}

// kernels.frozenLinearBackwardAug(h, dx [T*in] (accumulated into), dya [T*(out+kf)], T, F [kf*in], kf) -> dx:
// dx += dya [W ; F], bf16 operands (the grouped input gradient with one projection, accumulating).
Napi::Value FrozenLinearBackwardAug(const Napi::CallbackInfo& info) {
  if (info.Length() < 6) bad("frozenLinearBackwardAug(h, dx, dya, T, F, kf): six arguments needed");
  const FrozenLinear* l = linear_of(info[0], "frozenLinearBackwardAug");
  const int T = int_in(info[3], "frozenLinearBackwardAug: T", 0, 1 << 24);
  const int kf = int_in(info[5], "frozenLinearBackwardAug: kf", 0, 1 << 16);
  auto dx = f32arr(info[1], "frozenLinearBackwardAug: dx", (size_t)T * l->in());
  auto dya = f32arr(info[2], "frozenLinearBackwardAug: dya", (size_t)T * (l->out() + kf));
  auto F = f32arr(info[4], "frozenLinearBackwardAug: F", (size_t)kf * l->in());
  const auto dya16 = to_bf16_vec(dya), F16 = to_bf16_vec(F);
  FrozenLinear::backward_input_group_bf16(&l, 1, dx.Data(), dya16.data(), T, F16.data(), kf, true);
  return dx;
}

// kernels.frozenLinearBackwardGroup([h...], dx [T*in], dya [T*(sum out + kf)], T, F [kf*in], kf, accumulate) -> dx:
// dx (+)= dya [W_0; ...; F], bf16 operands (the grouped input gradient of projections sharing an input).
Napi::Value FrozenLinearBackwardGroup(const Napi::CallbackInfo& info) {
  if (info.Length() < 7 || !info[0].IsArray())
    bad("frozenLinearBackwardGroup(hs, dx, dya, T, F, kf, accumulate): seven arguments, hs an array");
  Napi::Array hs = info[0].As<Napi::Array>();
  if (hs.Length() < 1 || hs.Length() > 8) bad("frozenLinearBackwardGroup: 1 to 8 projections");
  std::vector<const FrozenLinear*> ls;
  int rows = 0;
  for (uint32_t i = 0; i < hs.Length(); i++) {
    ls.push_back(linear_of(hs.Get(i), "frozenLinearBackwardGroup"));
    rows += ls.back()->out();
    if (ls.back()->in() != ls[0]->in()) bad("frozenLinearBackwardGroup: the projections' inputs differ");
  }
  const int T = int_in(info[3], "frozenLinearBackwardGroup: T", 0, 1 << 24);
  const int kf = int_in(info[5], "frozenLinearBackwardGroup: kf", 0, 1 << 16);
  auto dx = f32arr(info[1], "frozenLinearBackwardGroup: dx", (size_t)T * ls[0]->in());
  auto dya = f32arr(info[2], "frozenLinearBackwardGroup: dya", (size_t)T * (rows + kf));
  auto F = f32arr(info[4], "frozenLinearBackwardGroup: F", (size_t)kf * ls[0]->in());
  if (!info[6].IsBoolean()) bad("frozenLinearBackwardGroup: accumulate must be a boolean");
  const auto dya16 = to_bf16_vec(dya), F16 = to_bf16_vec(F);
  FrozenLinear::backward_input_group_bf16(ls.data(), (int)ls.size(), dx.Data(), dya16.data(), T, F16.data(), kf,
                                          info[6].As<Napi::Boolean>().Value());
  return dx;
}

Napi::Value FrozenLinearDequantize(const Napi::CallbackInfo& info) {
  const FrozenLinear* l = linear_of(info.Length() ? info[0] : info.Env().Undefined(), "frozenLinearDequantize");
  auto w = Napi::Float32Array::New(info.Env(), (size_t)l->out() * l->in());
  l->dequantize(w.Data());
  return w;
}

Napi::Value FrozenLinearBytes(const Napi::CallbackInfo& info) {
  const FrozenLinear* l = linear_of(info.Length() ? info[0] : info.Env().Undefined(), "frozenLinearBytes");
  return Napi::Number::New(info.Env(), (double)l->bytes());
}

Napi::Value SetThreadsK(const Napi::CallbackInfo& info) {
  if (info.Length() < 1) bad("setThreads(n): n is required (0 = all cores)");
  set_threads(int_in(info[0], "setThreads: n", 0, 1024));
  return Napi::Number::New(info.Env(), threads());
}

// kernels.parallelForRuns(n, dynamic, throwAt = -1) -> {counts: Int32Array [n] (times each index ran), threads: how
// many distinct threads ran indices, nestedInline: whether a nested parallel_for ran on the calling thread}; the
// index throwAt throws (the error comes back to JS).
Napi::Value ParallelForRuns(const Napi::CallbackInfo& info) {
  if (info.Length() < 2) bad("parallelForRuns(n, dynamic, throwAt?): n and dynamic are required");
  const int n = int_in(info[0], "parallelForRuns: n", 0, 1 << 20);
  const bool dynamic = info[1].ToBoolean();
  const int throw_at = info.Length() > 2 ? int_in(info[2], "parallelForRuns: throwAt", -1, 1 << 20) : -1;
  std::vector<std::atomic<int>> counts(n);
  std::mutex m;
  std::set<std::thread::id> ids;
  std::atomic<bool> nested_inline{true};
  const auto body = [&](int b, int e) {
    size_t seen;
    {
      std::lock_guard<std::mutex> g(m);
      ids.insert(std::this_thread::get_id());
      seen = ids.size();
    }
    // A long loop waits (up to 2 s) until a second thread has taken a run: on a loaded machine the caller could
    // otherwise take every run of a dynamic loop before the worker is scheduled at all.
    if (n >= 1000 && seen < 2) {
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
      for (;;) {
        {
          std::lock_guard<std::mutex> g(m);
          if (ids.size() >= 2) break;
        }
        if (std::chrono::steady_clock::now() > until) break;
        std::this_thread::yield();
      }
    }
    for (int i = b; i < e; i++) {
      if (i == throw_at) throw EngineError("E_TEST", "index " + std::to_string(i) + " throws");
      const auto self = std::this_thread::get_id();
      parallel_for(2, [&](int, int) { // nested: runs inline on this thread
        if (std::this_thread::get_id() != self) nested_inline = false;
      });
      for (volatile int spin = 0; spin < 2000; spin = spin + 1) {} // enough work that both threads take part
      counts[i].fetch_add(1);
    }
  };
  if (dynamic)
    parallel_for_dynamic(n, body);
  else
    parallel_for(n, body);
  auto out = Napi::Int32Array::New(info.Env(), n);
  for (int i = 0; i < n; i++) out[i] = counts[i].load();
  Napi::Object r = Napi::Object::New(info.Env());
  r.Set("counts", out);
  r.Set("threads", Napi::Number::New(info.Env(), (double)ids.size()));
  r.Set("nestedInline", Napi::Boolean::New(info.Env(), nested_inline.load()));
  return r;
}

} // namespace

void register_kernel_test_bindings(Napi::Env env, Napi::Object k) {
  k.Set("sgemm", Napi::Function::New(env, kernel_guarded<Sgemm>));
  k.Set("sgemmRoute", Napi::Function::New(env, kernel_guarded<SgemmRoute>));
  k.Set("gemmBf16", Napi::Function::New(env, kernel_guarded<GemmBf16>));
  k.Set("f32ToBf16", Napi::Function::New(env, kernel_guarded<F32ToBf16>));
  k.Set("bf16ToF32", Napi::Function::New(env, kernel_guarded<Bf16ToF32>));
  k.Set("nf4Code", Napi::Function::New(env, kernel_guarded<Nf4Code>));
  k.Set("setIsa", Napi::Function::New(env, kernel_guarded<SetIsa>));
  k.Set("nf4Quantize", Napi::Function::New(env, kernel_guarded<Nf4Quantize>));
  k.Set("nf4Dequantize", Napi::Function::New(env, kernel_guarded<Nf4Dequantize>));
  k.Set("frozenLinear", Napi::Function::New(env, kernel_guarded<MakeFrozenLinear>));
  k.Set("frozenLinearForward", Napi::Function::New(env, kernel_guarded<FrozenLinearForward>));
  k.Set("decodeRows", Napi::Function::New(env, kernel_guarded<DecodeRows>));
  k.Set("frozenLinearBackward", Napi::Function::New(env, kernel_guarded<FrozenLinearBackward>));
  k.Set("decodeRowsLinear", Napi::Function::New(env, kernel_guarded<DecodeRowsLinear>));
  k.Set("decodeRowsF32", Napi::Function::New(env, kernel_guarded<DecodeRowsF32>));
  k.Set("decodeRowsBf16Available", Napi::Function::New(env, kernel_guarded<DecodeRowsBf16Available>));
  k.Set("frozenLinearForwardAug", Napi::Function::New(env, kernel_guarded<FrozenLinearForwardAug>));
  k.Set("frozenLinearBackwardAug", Napi::Function::New(env, kernel_guarded<FrozenLinearBackwardAug>));
  k.Set("frozenLinearBackwardGroup", Napi::Function::New(env, kernel_guarded<FrozenLinearBackwardGroup>));
  k.Set("frozenLinearDequantize", Napi::Function::New(env, kernel_guarded<FrozenLinearDequantize>));
  k.Set("frozenLinearBytes", Napi::Function::New(env, kernel_guarded<FrozenLinearBytes>));
  k.Set("setThreads", Napi::Function::New(env, kernel_guarded<SetThreadsK>));
  k.Set("parallelForRuns", Napi::Function::New(env, kernel_guarded<ParallelForRuns>));
}

} // namespace peft
