// Readers of JS arguments for the kernel-level bindings (see kernel_args.h).
#include "binding/kernel_args.h"
#include <algorithm>
#include "error.h"

namespace peft::binding {

[[noreturn]] void bad(const std::string& msg) { throw EngineError("E_ENGINE", msg); }

Napi::Object obj_arg(const Napi::CallbackInfo& info, size_t i, const char* fn) {
  if (info.Length() <= i || !info[i].IsObject() || info[i].IsTypedArray() || info[i].IsArray())
    bad(std::string(fn) + ": argument " + std::to_string(i + 1) + " must be an options object");
  return info[i].As<Napi::Object>();
}

double num(const Napi::Value& v, const std::string& what) {
  if (!v.IsNumber()) bad(what + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

int int_in(const Napi::Value& v, const std::string& what, long long lo, long long hi) {
  const double d = num(v, what);
  if (d != (double)(long long)d || d < (double)lo || d > (double)hi)
    bad(what + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
        std::to_string(d));
  return (int)d;
}

int int_field(const Napi::Object& o, const char* fn, const char* key, long long lo, long long hi, int dflt,
              bool required) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) {
    if (required) bad(std::string(fn) + ": '" + key + "' is required");
    return dflt;
  }
  return int_in(v, std::string(fn) + ": '" + key + "'", lo, hi);
}

bool bool_field(const Napi::Object& o, const char* fn, const char* key, bool dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return dflt;
  if (!v.IsBoolean()) bad(std::string(fn) + ": '" + key + "' must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

float float_field(const Napi::Object& o, const char* fn, const char* key, float dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return dflt;
  return (float)num(v, std::string(fn) + ": '" + key + "'");
}

size_t span(int rows, int cols, int ld) { return rows == 0 || cols == 0 ? 0 : (size_t)(rows - 1) * ld + cols; }

GemmArgs gemm_args(const Napi::Object& o, const char* fn) {
  GemmArgs g;
  const long long MAXD = 1 << 24;
  g.tA = bool_field(o, fn, "transA", false);
  g.tB = bool_field(o, fn, "transB", false);
  g.M = int_field(o, fn, "M", 0, MAXD, 0, true);
  g.N = int_field(o, fn, "N", 0, MAXD, 0, true);
  g.K = int_field(o, fn, "K", 0, MAXD, 0, true);
  g.lda = int_field(o, fn, "lda", 1, MAXD, std::max(1, g.tA ? g.M : g.K), false);
  g.ldb = int_field(o, fn, "ldb", 1, MAXD, std::max(1, g.tB ? g.K : g.N), false);
  g.ldc = int_field(o, fn, "ldc", 1, MAXD, std::max(1, g.N), false);
  g.alpha = float_field(o, fn, "alpha", 1.f);
  g.beta = float_field(o, fn, "beta", 0.f);
  if (g.lda < (g.tA ? g.M : g.K))
    bad(std::string(fn) + ": lda " + std::to_string(g.lda) + " is smaller than a row of A (" +
        std::to_string(g.tA ? g.M : g.K) + ")");
  if (g.ldb < (g.tB ? g.K : g.N))
    bad(std::string(fn) + ": ldb " + std::to_string(g.ldb) + " is smaller than a row of B (" +
        std::to_string(g.tB ? g.K : g.N) + ")");
  if (g.ldc < g.N)
    bad(std::string(fn) + ": ldc " + std::to_string(g.ldc) + " is smaller than N (" + std::to_string(g.N) + ")");
  return g;
}

size_t need_a(const GemmArgs& g) { return g.tA ? span(g.K, g.M, g.lda) : span(g.M, g.K, g.lda); }
size_t need_b(const GemmArgs& g) { return g.tB ? span(g.N, g.K, g.ldb) : span(g.K, g.N, g.ldb); }

} // namespace peft::binding
