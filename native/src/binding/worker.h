// The AsyncWorker base of every engine call that runs off the JS thread: one computation at a time, engine errors
// rejected as JS Errors with their `code`, and the helpers that queue a worker and hand back its promise.
#pragma once
#include <napi.h>
#include <string>

namespace peft::binding {

class Worker : public Napi::AsyncWorker {
 public:
  explicit Worker(Napi::Env env) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  virtual void run() = 0;                        // on a worker thread
  virtual Napi::Value result(Napi::Env env) = 0; // back on the JS thread, after run() succeeded
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& e) override;
  Napi::Promise::Deferred deferred_;
  std::string code_ = "E_INTERNAL";
};

// Queues a worker and returns its promise (the worker deletes itself when done).
template <typename W>
Napi::Value queue(W* w) {
  auto p = w->promise();
  w->Queue();
  return p;
}

// Fills a new worker with `setup` (argument checks that may throw: then the worker is deleted, never queued), then
// queues it.
template <typename W, typename F>
Napi::Value setup_and_queue(W* w, F&& setup) {
  try {
    setup(w);
  } catch (...) {
    delete w;
    throw;
  }
  return queue(w);
}

} // namespace peft::binding
