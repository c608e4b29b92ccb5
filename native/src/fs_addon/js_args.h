// Argument readers shared by the peft_fs addon's entry points: each throws a JS TypeError naming the call and returns
// false when the value is not what the call takes.
#pragma once
#include <napi.h>
#include <string>
#include <vector>

namespace peft_fs {

// A string[] argument, appended to out; `fn` names the call in the error ("hashFiles: paths must be strings").
inline bool string_array(Napi::Env env, const Napi::Value& value, const char* fn, std::vector<std::string>& out) {
  Napi::Array arr = value.As<Napi::Array>();
  out.reserve(out.size() + arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsString()) {
      Napi::TypeError::New(env, std::string(fn) + ": paths must be strings").ThrowAsJavaScriptException();
      return false;
    }
    out.push_back(v.As<Napi::String>().Utf8Value());
  }
  return true;
}

} // namespace peft_fs
