// Readers of JS call arguments for the engine bindings: each checks type and range and throws E_ENGINE naming the argument.
#pragma once
#include <napi.h>
#include <cstdint>
#include <string>
#include <vector>
#include "error.h"

namespace peft::binding {

[[noreturn]] inline void usage(const std::string& msg) { throw EngineError("E_ENGINE", msg); }

// A JS Error with `code` set (the shape every engine error takes in JS).
Napi::Error make_error(Napi::Env env, const std::string& code, const std::string& msg);

// Argument i as an options object ({} when absent, undefined or null).
Napi::Object opt_obj(const Napi::CallbackInfo& info, size_t i);
std::string get_str(const Napi::CallbackInfo& info, size_t i, const char* name);

// Option `key` of o, or dflt when absent / undefined / null; numbers must lie in [lo, hi].
double num_or(const Napi::Object& o, const char* key, double dflt, double lo, double hi);
int int_or(const Napi::Object& o, const char* key, int dflt, int lo, int hi);
bool bool_or(const Napi::Object& o, const char* key, bool dflt);
std::string str_or(const Napi::Object& o, const char* key, const std::string& dflt);

std::vector<int32_t> int32s(const Napi::Value& v, const char* name);      // an Int32Array, copied
void check_ids(const std::vector<int32_t>& ids, int V, const char* name); // every id in [0, V)
std::vector<std::string> strings(const Napi::Value& v, const char* name); // an array of strings

} // namespace peft::binding
