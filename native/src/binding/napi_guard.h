// Turns C++ exceptions leaving an N-API callback into JS errors with a `code`: an EngineError keeps its own code,
// any other std::exception gets the binding's fallback code and message prefix. Bad input never aborts the process.
#pragma once
#include <napi.h>
#include <string>
#include "error.h"

namespace peft {

template <class Body>
Napi::Value run_guarded(const Napi::CallbackInfo& info, const char* fallback_code, const char* prefix, Body&& body) {
  const auto throw_js = [&](const std::string& code, const std::string& msg) {
    Napi::Error err = Napi::Error::New(info.Env(), msg);
    err.Set("code", Napi::String::New(info.Env(), code));
    err.ThrowAsJavaScriptException();
  };
  try {
    return body();
  } catch (const EngineError& e) { throw_js(e.code, e.what()); } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) { throw_js(fallback_code, std::string(prefix) + e.what()); }
  return info.Env().Undefined();
}

} // namespace peft
