// JS bindings of the model-files layer (registered from addon.cc): inspectModel, parseModelConfig, ropeInvFreq,
// inspectSafetensors, readModelTensor, writeSafetensorsF32. Engine errors become JS errors with `code`.
#include <napi.h>

#include <new>

#include "error.h"
#include "binding/napi_guard.h"
#include "binding/model_fields.h"
#include "binding/register.h"
#include "model/config.h"
#include "model/safetensors.h"

namespace peft {
namespace {

[[noreturn]] void throw_js(Napi::Env env, const std::string& code, const std::string& msg) {
  Napi::Error err = Napi::Error::New(env, msg);
  err.Set("code", Napi::String::New(env, code));
  throw err;
}

// Runs a binding body; every C++ exception leaves as a JS exception (never a crash). Out of memory is E_ENGINE.
template <class F>
Napi::Value guarded(const Napi::CallbackInfo& info, F&& body) {
  return run_guarded(info, "E_INTERNAL", "native engine bug: ", [&]() -> Napi::Value {
    try {
      return body();
    } catch (const std::bad_alloc&) { throw EngineError("E_ENGINE", "out of memory"); }
  });
}

std::string arg_string(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsString())
    throw_js(info.Env(), "E_ENGINE", std::string("argument ") + what + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

Napi::Array shape_js(Napi::Env env, const std::vector<int64_t>& shape) {
  Napi::Array a = Napi::Array::New(env, shape.size());
  for (size_t i = 0; i < shape.size(); ++i)
    a.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(shape[i])));
  return a;
}

Napi::Object config_js(Napi::Env env, const ModelConfig& c) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("modelType", c.model_type);
  o.Set("architecture", c.architecture);
  binding::set_shape_fields(o, c);
  o.Set("rmsNormEps", c.rms_norm_eps);
  o.Set("ropeTheta", c.rope_theta);
  Napi::Object rs = Napi::Object::New(env);
  rs.Set("type", c.rope_scaling.type);
  rs.Set("factor", c.rope_scaling.factor);
  rs.Set("lowFreqFactor", c.rope_scaling.low_freq_factor);
  rs.Set("highFreqFactor", c.rope_scaling.high_freq_factor);
  rs.Set("originalMaxPositionEmbeddings", c.rope_scaling.original_max_position_embeddings);
  o.Set("ropeScaling", rs);
  o.Set("tieWordEmbeddings", c.tie_word_embeddings);
  o.Set("slidingWindow", c.sliding_window);
  o.Set("attentionBias", c.attention_bias);
  o.Set("qkvBias", c.qkv_bias);
  o.Set("oBias", c.o_bias);
  o.Set("mlpBias", c.mlp_bias);
  o.Set("hiddenAct", c.hidden_act);
  o.Set("bosTokenId", c.bos_token_id);
  o.Set("eosTokenIds", binding::int_array(env, c.eos_token_ids));
  o.Set("padTokenId", c.pad_token_id);
  o.Set("torchDtype", c.torch_dtype);
  return o;
}

Napi::Array tensors_js(Napi::Env env, const std::map<std::string, TensorView>& tensors) {
  Napi::Array arr = Napi::Array::New(env, tensors.size());
  uint32_t i = 0;
  for (const auto& kv : tensors) {
    Napi::Object t = Napi::Object::New(env);
    t.Set("name", kv.first);
    t.Set("dtype", kv.second.dtype);
    t.Set("shape", shape_js(env, kv.second.shape));
    arr.Set(i++, t);
  }
  return arr;
}

// inspectModel(dir) -> { dir, config, files: [path], tensors: [{name, dtype, shape}] } (names sorted).
Napi::Value InspectModel(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    ModelFiles mf = load_model_dir(arg_string(info, 0, "dir"));
    Napi::Object o = Napi::Object::New(env);
    o.Set("dir", mf.dir);
    o.Set("config", config_js(env, mf.cfg));
    Napi::Array files = Napi::Array::New(env, mf.files.size());
    for (size_t i = 0; i < mf.files.size(); ++i) files.Set(static_cast<uint32_t>(i), mf.files[i]->path());
    o.Set("files", files);
    o.Set("tensors", tensors_js(env, mf.tensors));
    return o;
  });
}

// parseModelConfig(configJsonText, generationConfigJsonText?) -> config
Napi::Value ParseModelConfig(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    ModelConfig cfg = parse_model_config(arg_string(info, 0, "configJsonText"), "config.json");
    if (info.Length() > 1 && !info[1].IsUndefined() && !info[1].IsNull())
      apply_generation_config(cfg, arg_string(info, 1, "generationConfigJsonText"), "generation_config.json");
    return config_js(info.Env(), cfg);
  });
}

// ropeInvFreq(configJsonText, seqLen) -> { invFreq: Float64Array(head_dim/2), posScale }
Napi::Value RopeInvFreq(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    ModelConfig cfg = parse_model_config(arg_string(info, 0, "configJsonText"), "config.json");
    if (info.Length() < 2 || !info[1].IsNumber()) throw_js(env, "E_ENGINE", "argument seqLen must be a number");
    const double sl = info[1].As<Napi::Number>().DoubleValue();
    if (!(sl >= 1 && sl <= 2147483647.0) || sl != static_cast<double>(static_cast<int64_t>(sl)))
      throw_js(env, "E_ENGINE", "argument seqLen must be a positive integer");
    double pos_scale = 1.0;
    std::vector<double> inv = rope_inv_freq(cfg, static_cast<int>(sl), &pos_scale);
    Napi::Float64Array arr = Napi::Float64Array::New(env, inv.size());
    for (size_t i = 0; i < inv.size(); ++i) arr[i] = inv[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("invFreq", arr);
    o.Set("posScale", pos_scale);
    return o;
  });
}

// inspectSafetensors(path) -> { metadata, tensors: [{name, dtype, shape}] } after full validation.
Napi::Value InspectSafetensors(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    SafetensorsFile f(arg_string(info, 0, "path"));
    Napi::Object meta = Napi::Object::New(env);
    for (const auto& kv : f.metadata()) meta.Set(kv.first, kv.second);
    Napi::Object o = Napi::Object::New(env);
    o.Set("metadata", meta);
    o.Set("tensors", tensors_js(env, f.tensors()));
    return o;
  });
}

// readModelTensor(dir, name) -> Float32Array (converted from the stored dtype).
Napi::Value ReadModelTensor(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    ModelFiles mf = load_model_dir(arg_string(info, 0, "dir"));
    const std::string name = arg_string(info, 1, "name");
    const TensorView* t = mf.find(name);
    if (!t) throw EngineError("E_MODEL", mf.dir + ": no tensor \"" + name + "\"");
    Napi::Float32Array out = Napi::Float32Array::New(info.Env(), static_cast<size_t>(t->numel()));
    t->to_f32(out.Data());
    return out;
  });
}

// writeSafetensorsF32(path, [{name, shape, data: Float32Array}], metadata?) writes with the native writer.
Napi::Value WriteSafetensorsF32(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const std::string path = arg_string(info, 0, "path");
    if (info.Length() < 2 || !info[1].IsArray()) throw_js(env, "E_ENGINE", "argument tensors must be an array");
    Napi::Array arr = info[1].As<Napi::Array>();
    std::vector<NamedTensor> list;
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      Napi::Value v = arr.Get(i);
      if (!v.IsObject()) throw_js(env, "E_ENGINE", "tensors[" + std::to_string(i) + "] must be an object");
      Napi::Object t = v.As<Napi::Object>();
      Napi::Value name = t.Get("name"), shape = t.Get("shape"), data = t.Get("data");
      if (!name.IsString() || !shape.IsArray() || !data.IsTypedArray() ||
          data.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
        throw_js(env, "E_ENGINE",
                 "tensors[" + std::to_string(i) + "] needs name (string), shape (array) and data (Float32Array)");
      NamedTensor nt;
      nt.name = name.As<Napi::String>().Utf8Value();
      Napi::Array sh = shape.As<Napi::Array>();
      int64_t numel = 1;
      for (uint32_t j = 0; j < sh.Length(); ++j) {
        Napi::Value d = sh.Get(j);
        double x = d.IsNumber() ? d.As<Napi::Number>().DoubleValue() : -1;
        if (!(x >= 0 && x <= 9007199254740991.0) || x != static_cast<double>(static_cast<int64_t>(x)))
          throw_js(env, "E_ENGINE", "tensor \"" + nt.name + "\": shape must hold non-negative integers");
        nt.shape.push_back(static_cast<int64_t>(x));
        numel *= static_cast<int64_t>(x);
      }
      Napi::Float32Array fa = data.As<Napi::Float32Array>();
      if (static_cast<int64_t>(fa.ElementLength()) != numel)
        throw_js(env, "E_ENGINE",
                 "tensor \"" + nt.name + "\": data has " + std::to_string(fa.ElementLength()) +
                     " values, shape needs " + std::to_string(numel));
      nt.data = fa.Data();
      list.push_back(nt);
    }
    std::map<std::string, std::string> meta{{"format", "pt"}};
    if (info.Length() > 2 && info[2].IsObject()) {
      meta.clear();
      Napi::Object m = info[2].As<Napi::Object>();
      Napi::Array keys = m.GetPropertyNames();
      for (uint32_t i = 0; i < keys.Length(); ++i) {
        std::string k = keys.Get(i).As<Napi::String>().Utf8Value();
        Napi::Value v = m.Get(k);
        if (!v.IsString()) throw_js(env, "E_ENGINE", "metadata." + k + " must be a string");
        meta[k] = v.As<Napi::String>().Utf8Value();
      }
    }
    write_safetensors_f32(path, list, meta);
    return env.Undefined();
  });
}

} // namespace

void binding::register_model_files(Napi::Env env, Napi::Object exports) {
  exports.Set("inspectModel", Napi::Function::New(env, InspectModel, "inspectModel"));
  exports.Set("parseModelConfig", Napi::Function::New(env, ParseModelConfig, "parseModelConfig"));
  exports.Set("ropeInvFreq", Napi::Function::New(env, RopeInvFreq, "ropeInvFreq"));
  exports.Set("inspectSafetensors", Napi::Function::New(env, InspectSafetensors, "inspectSafetensors"));
  exports.Set("readModelTensor", Napi::Function::New(env, ReadModelTensor, "readModelTensor"));
  exports.Set("writeSafetensorsF32", Napi::Function::New(env, WriteSafetensorsF32, "writeSafetensorsF32"));
}

} // namespace peft
