// The AsyncWorker base of the engine bindings (see worker.h).
#include "binding/worker.h"
#include <mutex>
#include <new>
#include "binding/args.h"
#include "error.h"

namespace peft::binding {

void Worker::Execute() {
  // One computation at a time: the kernels share one thread pool, and the CPU is the limit anyway.
  static std::mutex compute_mu;
  std::lock_guard<std::mutex> lock(compute_mu);
  try {
    run();
  } catch (const EngineError& e) {
    code_ = e.code;
    SetError(e.what());
  } catch (const std::bad_alloc&) {
    code_ = "E_ENGINE";
    SetError("out of memory");
  } catch (const std::exception& e) {
    code_ = "E_INTERNAL";
    SetError(e.what());
  }
}

void Worker::OnOK() {
  Napi::HandleScope scope(Env());
  try {
    deferred_.Resolve(result(Env()));
  } catch (const Napi::Error& e) { deferred_.Reject(e.Value()); }
}

void Worker::OnError(const Napi::Error& e) {
  Napi::HandleScope scope(Env());
  deferred_.Reject(make_error(Env(), code_, e.Message()).Value());
}

} // namespace peft::binding
