// Readers of JS call arguments for the engine bindings (see args.h).
#include "binding/args.h"
#include <cmath>

namespace peft::binding {

Napi::Error make_error(Napi::Env env, const std::string& code, const std::string& msg) {
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, code));
  return e;
}

Napi::Object opt_obj(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || info[i].IsUndefined() || info[i].IsNull()) return Napi::Object::New(info.Env());
  if (!info[i].IsObject()) usage("argument " + std::to_string(i + 1) + " must be an options object");
  return info[i].As<Napi::Object>();
}
std::string get_str(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsString()) usage(std::string(name) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}
double num_or(const Napi::Object& o, const char* key, double dflt, double lo, double hi) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsNumber()) usage(std::string("option '") + key + "' must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d < lo || d > hi)
    usage(std::string("option '") + key + "' = " + std::to_string(d) + " is outside [" + std::to_string(lo) + ", " +
          std::to_string(hi) + "]");
  return d;
}
int int_or(const Napi::Object& o, const char* key, int dflt, int lo, int hi) {
  double d = num_or(o, key, dflt, lo, hi);
  if (d != std::floor(d)) usage(std::string("option '") + key + "' must be an integer");
  return (int)d;
}
bool bool_or(const Napi::Object& o, const char* key, bool dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsBoolean()) usage(std::string("option '") + key + "' must be a boolean");
  return v.As<Napi::Boolean>().Value();
}
std::string str_or(const Napi::Object& o, const char* key, const std::string& dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsString()) usage(std::string("option '") + key + "' must be a string");
  return v.As<Napi::String>().Utf8Value();
}
std::vector<int32_t> int32s(const Napi::Value& v, const char* name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    usage(std::string(name) + " must be an Int32Array");
  Napi::Int32Array a = v.As<Napi::Int32Array>();
  return std::vector<int32_t>(a.Data(), a.Data() + a.ElementLength());
}
void check_ids(const std::vector<int32_t>& ids, int V, const char* name) {
  for (size_t i = 0; i < ids.size(); i++)
    if (ids[i] < 0 || ids[i] >= V)
      usage(std::string(name) + "[" + std::to_string(i) + "] = " + std::to_string(ids[i]) +
            " is not a token id of this model (vocabulary size " + std::to_string(V) + ")");
}
std::vector<std::string> strings(const Napi::Value& v, const char* name) {
  if (!v.IsArray()) usage(std::string(name) + " must be an array of strings");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<std::string> out;
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    if (!e.IsString()) usage(std::string(name) + "[" + std::to_string(i) + "] must be a string");
    out.push_back(e.As<Napi::String>().Utf8Value());
  }
  return out;
}

} // namespace peft::binding
