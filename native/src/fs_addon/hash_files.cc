// peft_fs addon: hashFiles(paths, threads) computes the SHA-256 of whole files on `threads` libuv pool threads that
// take the next file from one shared counter (big and small files balance themselves), through the OpenSSL that Node
// itself exports (EVP, SHA extensions where the CPU has them). The build core's first hash of many small files: no
// promise, no JS buffer and no worker start per file.
#include "fs_addon/hash_files.h"
#include "fs_addon/js_args.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace peft_fs {
namespace {

constexpr size_t kChunk = 1 << 20;
constexpr size_t kSha = 32;

// What all the workers of one call share: the paths, the next index to take, the results.
struct Job {
  std::vector<std::string> paths;
  std::atomic<size_t> next{0};
  std::vector<uint8_t> shas;  // kSha bytes per path
  std::vector<int32_t> errs;  // errno per path (0: hashed)
  std::vector<uint8_t> stage; // 0: open failed, 1: read failed (which syscall errs[i] is of)
  std::atomic<int> left{0};   // workers still running; the last one settles the promise
  std::atomic<bool> broken{false};
  std::string why; // written by a failing worker before `broken`
};

// SHA-256 of the file at `path` into `out`; returns 0 or the errno of the failed open (stage 0) or read (stage 1).
int hashOne(const std::string& path, EVP_MD_CTX* ctx, std::vector<uint8_t>& buf, uint8_t* out, uint8_t* stage) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *stage = 0;
    return errno;
  }
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  int err = 0;
  while (true) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      err = errno;
      *stage = 1;
      break;
    }
    if (n == 0) break;
    EVP_DigestUpdate(ctx, buf.data(), static_cast<size_t>(n));
  }
  close(fd);
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, out, &len);
  return err;
}

class HashWorker : public Napi::AsyncWorker {
 public:
  HashWorker(Napi::Env env, std::shared_ptr<Job> job, Napi::Promise::Deferred deferred)
      : Napi::AsyncWorker(env), job_(std::move(job)), deferred_(deferred) {}

  void Execute() override {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (!ctx) {
      SetError("hashFiles: EVP_MD_CTX_new failed");
      return;
    }
    std::vector<uint8_t> buf(kChunk);
    Job& j = *job_;
    for (size_t i; (i = j.next.fetch_add(1)) < j.paths.size();)
      j.errs[i] = hashOne(j.paths[i], ctx, buf, &j.shas[i * kSha], &j.stage[i]);
    EVP_MD_CTX_free(ctx);
  }
  void OnOK() override { Finish(); }
  void OnError(const Napi::Error& e) override {
    Job& j = *job_;
    if (!j.broken) j.why = e.Message();
    j.broken = true;
    Finish();
  }

 private:
  // OnOK / OnError run on the JS thread, one after another: the last worker to finish settles the promise.
  void Finish() {
    Job& j = *job_;
    if (j.left.fetch_sub(1) != 1) return;
    Napi::Env env = Env();
    if (j.broken) {
      deferred_.Reject(Napi::Error::New(env, j.why).Value());
      return;
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("shas", Napi::Buffer<uint8_t>::Copy(env, j.shas.data(), j.shas.size()));
    Napi::Int32Array errs = Napi::Int32Array::New(env, j.errs.size());
    if (!j.errs.empty()) std::memcpy(errs.Data(), j.errs.data(), j.errs.size() * sizeof(int32_t));
    Napi::Uint8Array stage = Napi::Uint8Array::New(env, j.stage.size());
    if (!j.stage.empty()) std::memcpy(stage.Data(), j.stage.data(), j.stage.size());
    out.Set("errnos", errs);
    out.Set("stages", stage);
    deferred_.Resolve(out);
  }

  std::shared_ptr<Job> job_;
  Napi::Promise::Deferred deferred_;
};

// hashFiles(paths: string[], threads: number): Promise<{ shas: Buffer (32 bytes per path), errnos: Int32Array (0 or
// the errno), stages: Uint8Array (0: open failed, 1: read failed) }>.
Napi::Value HashFiles(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "hashFiles(paths: string[], threads: number)").ThrowAsJavaScriptException();
    return env.Null();
  }
  auto job = std::make_shared<Job>();
  if (!string_array(env, info[0], "hashFiles", job->paths)) return env.Null();
  const size_t n = job->paths.size();
  job->shas.assign(n * kSha, 0);
  job->errs.assign(n, 0);
  job->stage.assign(n, 0);
  int threads = info[1].As<Napi::Number>().Int32Value();
  if (threads < 1) threads = 1;
  if (static_cast<size_t>(threads) > n) threads = n ? static_cast<int>(n) : 1;
  job->left = threads;
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  for (int t = 0; t < threads; t++) (new HashWorker(env, job, deferred))->Queue();
  return deferred.Promise();
}

} // namespace

void InitHashFiles(Napi::Env env, Napi::Object exports) {
  exports.Set("hashFiles", Napi::Function::New(env, HashFiles, "hashFiles"));
}

} // namespace peft_fs
