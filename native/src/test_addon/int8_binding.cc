// Test-addon bindings of the int8 decoding mode (decode/rows_int8.h) on typed arrays: the input quantiser, the NF4 ->
// int8 tile decode and the products of the active ISA's variant (kernels.setIsa picks it), for tests and benchmarks.
#include <napi.h>
#include <string>
#include <vector>
#include "backend/backend.h"
#include "binding/kernel_args.h"
#include "decode/rows_int8.h"
#include "decode/rows_variants.h"
#include "kernels/isa.h"
#include "kernels/linear.h"

namespace peft {
namespace {

using namespace peft::binding;

template <typename T, napi_typedarray_type KIND>
Napi::TypedArrayOf<T> arr(const Napi::Value& v, const std::string& what, const char* tname, size_t need) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != KIND) bad(what + " must be a " + tname);
  auto a = v.As<Napi::TypedArrayOf<T>>();
  if (a.ElementLength() < need)
    bad(what + " has " + std::to_string(a.ElementLength()) + " elements but the shape needs " + std::to_string(need));
  return a;
}

const kern::FrozenLinear* linear(const Napi::Value& v, const char* fn) {
  if (!v.IsExternal()) bad(std::string(fn) + ": first argument must be a handle from kernels.frozenLinear");
  auto* l = v.As<Napi::External<kern::FrozenLinear>>().Data();
  if (!l) bad(std::string(fn) + ": invalid handle");
  return l;
}

int in32(const Napi::Value& v, const std::string& what) {
  const int n = int_in(v, what, 32, 1 << 24);
  if (n % 32) bad(what + " must be a multiple of 32");
  return n;
}

Napi::Object q8(Napi::Env env, const std::vector<int8_t>& q, const std::vector<float>& d) {
  auto qa = Napi::Int8Array::New(env, q.size());
  auto da = Napi::Float32Array::New(env, d.size());
  std::copy(q.begin(), q.end(), qa.Data());
  std::copy(d.begin(), d.end(), da.Data());
  Napi::Object o = Napi::Object::New(env);
  o.Set("q", qa);
  o.Set("d", da);
  return o;
}

// kernels.quantizeQ8(x: Float32Array [n], n % 32 == 0) -> {q: Int8Array [n], d: Float32Array [n / 32]}
Napi::Value QuantizeQ8(const Napi::CallbackInfo& info) {
  auto x = arr<float, napi_float32_array>(info[0], "quantizeQ8: x", "Float32Array", 0);
  const size_t n = x.ElementLength();
  if (n % 32) bad("quantizeQ8: x's length must be a multiple of 32");
  std::vector<int8_t> q(n);
  std::vector<float> d(n / 32);
  decode::quantize_q8(x.Data(), n, q.data(), d.data());
  return q8(info.Env(), q, d);
}

// kernels.nf4Int8Tile(h) -> {q: Int8Array [out*in], d: Float32Array [out*in/32]}: an NF4 weight (in % 32 == 0) as
// the int8 mode's levels and scales, decoded by the active ISA's variant.
Napi::Value Nf4Int8Tile(const Napi::CallbackInfo& info) {
  const kern::FrozenLinear* l = linear(info[0], "nf4Int8Tile");
  if (!decode::rows_int8_supported(*l)) bad("nf4Int8Tile: the weight must be NF4 with in % 32 == 0");
  const kern::NF4Tensor& t = l->nf4_tensor();
  const kern::Nf4View v{
      t.packed.data(), t.absmax_q.data(), t.absmax_scale.data(), t.absmax_offset, kern::NF4_CODE, t.rows, t.cols};
  const decode::RowsInt8Kernels& k = decode::rows_int8_kernels();
  const int nc = l->in() / 32;
  std::vector<int8_t> q((size_t)l->out() * l->in());
  std::vector<float> by8((size_t)(l->out() + 7) / 8 * 8 * nc), d((size_t)l->out() * nc);
  k.decode(v, decode::nf4_int8_levels(), 0, l->out(), q.data(), by8.data());
  for (int r = 0; r < l->out(); r++) // back to [out, nc]
    for (int j = 0; j < nc; j++) d[(size_t)r * nc + j] = by8[((size_t)(r / 8) * nc + j) * 8 + r % 8];
  return q8(info.Env(), q, d);
}

// kernels.decodeRowsInt8(h, x: Float32Array [T*in], T) -> y [T*out]: the int8 mode's product (through the CPU backend).
Napi::Value DecodeRowsInt8(const Napi::CallbackInfo& info) {
  const kern::FrozenLinear* l = linear(info[0], "decodeRowsInt8");
  const int T = int_in(info[2], "decodeRowsInt8: T", 0, 1 << 24);
  auto x = arr<float, napi_float32_array>(info[1], "decodeRowsInt8: x", "Float32Array", (size_t)T * l->in());
  auto y = Napi::Float32Array::New(info.Env(), (size_t)T * l->out());
  cpu_backend().decode_rows_linear_int8(*l, y.Data(), x.Data(), T);
  return y;
}

// kernels.decodeRowsQ8(Wq: Int8Array [out*in], Wd: Float32Array [out*in/32] (quantizeQ8's), out, in, x [T*in], T)
// -> y [T*out]
Napi::Value DecodeRowsQ8(const Napi::CallbackInfo& info) {
  const int out = int_in(info[2], "decodeRowsQ8: out", 1, 1 << 24), in = in32(info[3], "decodeRowsQ8: in");
  const int T = int_in(info[5], "decodeRowsQ8: T", 0, 1 << 24);
  auto Wq = arr<int8_t, napi_int8_array>(info[0], "decodeRowsQ8: Wq", "Int8Array", (size_t)out * in);
  auto Wd = arr<float, napi_float32_array>(info[1], "decodeRowsQ8: Wd", "Float32Array", (size_t)out * in / 32);
  for (size_t i = 0; i < (size_t)out * in; i++)
    if (Wq.Data()[i] == -128) bad("decodeRowsQ8: Wq holds -128 (levels are in [-127, 127])");
  auto x = arr<float, napi_float32_array>(info[4], "decodeRowsQ8: x", "Float32Array", (size_t)T * in);
  auto y = Napi::Float32Array::New(info.Env(), (size_t)T * out);
  const std::vector<float> d = decode::q8_scales_by8(Wd.Data(), out, in / 32);
  cpu_backend().decode_rows_q8(Wq.Data(), d.data(), out, in, x.Data(), T, y.Data());
  return y;
}

// kernels.int8Body() -> "avx512vnni" | "avx2" | "scalar": the variant the int8 products run on the active ISA.
Napi::Value Int8Body(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), decode::rows_int8_body()); }

// kernels.nf4Int8Levels() -> Int8Array [16]: the NF4 code book as the int8 mode's levels.
Napi::Value Nf4Int8Levels(const Napi::CallbackInfo& info) {
  auto a = Napi::Int8Array::New(info.Env(), 16);
  const int8_t* l = decode::nf4_int8_levels();
  std::copy(l, l + 16, a.Data());
  return a;
}

} // namespace

void register_int8_test_bindings(Napi::Env env, Napi::Object k) {
  k.Set("quantizeQ8", Napi::Function::New(env, kernel_guarded<QuantizeQ8>));
  k.Set("nf4Int8Tile", Napi::Function::New(env, kernel_guarded<Nf4Int8Tile>));
  k.Set("int8Body", Napi::Function::New(env, kernel_guarded<Int8Body>));
  k.Set("decodeRowsInt8", Napi::Function::New(env, kernel_guarded<DecodeRowsInt8>));
  k.Set("decodeRowsQ8", Napi::Function::New(env, kernel_guarded<DecodeRowsQ8>));
  k.Set("nf4Int8Levels", Napi::Function::New(env, kernel_guarded<Nf4Int8Levels>));
}

} // namespace peft
