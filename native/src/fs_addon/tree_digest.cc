// peft_fs addon: treeDigest(paths, skip) digests the stat state of files and folder trees off the main thread (the
// build core's no-op snapshot checks 100,000 files by stat alone): per path, 16 bytes over every entry's name, kind,
// size, inode, mtime and ctime (links: also the link's own inode and ctime; folders: their own stamps, entries sorted),
// the root's real path, and the newest mtime / ctime seen. No file is read.
#include "fs_addon/tree_digest.h"
#include "fs_addon/js_args.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace peft_fs {
namespace {

// Two 64-bit lanes, each word mixed in (xor-multiply-rotate and add-multiply-xorshift): not cryptographic, it only
// has to tell a changed stamp from the recorded one.
struct Digest {
  uint64_t a = 0x9e3779b97f4a7c15ull, b = 0xc2b2ae3d27d4eb4full;
  void word(uint64_t w) {
    a = (a ^ w) * 0x100000001b3ull;
    a = (a << 31) | (a >> 33);
    b = (b + w) * 0xff51afd7ed558ccdull;
    b ^= b >> 29;
  }
  void bytes(const char* s, size_t n) {
    word(n);
    uint64_t w = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      std::memcpy(&w, s + i, 8);
      word(w);
    }
    w = 0;
    if (i < n) std::memcpy(&w, s + i, n - i);
    word(w);
  }
};

enum : uint64_t { kMissing = 1, kFile = 2, kDir = 3, kLink = 4, kOther = 5, kSkipped = 6, kUnreadable = 7 };

struct Walk {
  Digest d;
  double newest = 0; // ms since the epoch
  std::string skip;  // an absolute folder never descended into (the project's store)

  void stamp(const struct stat& st) {
    d.word(static_cast<uint64_t>(st.st_size));
    d.word(static_cast<uint64_t>(st.st_ino));
    d.word(static_cast<uint64_t>(st.st_dev));
    d.word(static_cast<uint64_t>(st.st_mtim.tv_sec));
    d.word(static_cast<uint64_t>(st.st_mtim.tv_nsec));
    d.word(static_cast<uint64_t>(st.st_ctim.tv_sec));
    d.word(static_cast<uint64_t>(st.st_ctim.tv_nsec));
    d.word(static_cast<uint64_t>(st.st_mode));
    const double m = st.st_mtim.tv_sec * 1e3 + st.st_mtim.tv_nsec / 1e6;
    const double c = st.st_ctim.tv_sec * 1e3 + st.st_ctim.tv_nsec / 1e6;
    newest = std::max(newest, std::max(m, c));
  }

  // The entry `name` of the open folder `dfd` (path `path`), whose lstat is `l`.
  void entry(int dfd, const char* name, const std::string& path, const struct stat& l, int depth) {
    if (S_ISLNK(l.st_mode)) {
      d.word(kLink);
      d.word(static_cast<uint64_t>(l.st_ino));
      d.word(static_cast<uint64_t>(l.st_ctim.tv_sec));
      d.word(static_cast<uint64_t>(l.st_ctim.tv_nsec));
      struct stat st;
      if (fstatat(dfd, name, &st, 0) == 0)
        stamp(st); // what the link resolves to; never descended into
      else
        d.word(kMissing);
    } else if (S_ISREG(l.st_mode)) {
      d.word(kFile);
      stamp(l);
    } else if (S_ISDIR(l.st_mode)) {
      d.word(kDir);
      stamp(l);
      if (path == skip || depth > 256) {
        d.word(kSkipped);
        return;
      }
      folder(dfd, name, path, depth + 1);
    } else {
      d.word(kOther);
      stamp(l);
    }
  }

  void folder(int parent, const char* name, const std::string& path, int depth) {
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR* dir = fd < 0 ? nullptr : fdopendir(fd);
    if (!dir) {
      if (fd >= 0) close(fd);
      d.word(kUnreadable);
      return;
    }
    std::vector<std::string> names;
    while (dirent* e = readdir(dir)) {
      const char* n = e->d_name;
      if (n[0] == '.' && (n[1] == 0 || (n[1] == '.' && n[2] == 0))) continue;
      names.emplace_back(n);
    }
    std::sort(names.begin(), names.end());
    d.word(names.size());
    for (const std::string& n : names) {
      d.bytes(n.data(), n.size());
      // The expansion never walks these: their name is enough.
      if (n == ".git" || n == "node_modules") {
        d.word(kSkipped);
        continue;
      }
      struct stat l;
      if (fstatat(fd, n.c_str(), &l, AT_SYMLINK_NOFOLLOW) != 0) {
        d.word(kMissing);
        continue;
      }
      entry(fd, n.c_str(), path + "/" + n, l, depth);
    }
    closedir(dir);
  }

  void root(const std::string& path) {
    struct stat l;
    if (lstat(path.c_str(), &l) != 0) {
      d.word(kMissing);
      return;
    }
    char real[PATH_MAX];
    if (realpath(path.c_str(), real))
      d.bytes(real, std::strlen(real));
    else
      d.word(kMissing);
    entry(AT_FDCWD, path.c_str(), path, l, 0);
  }
};

// Bytes per path in the result: the digest's two 64-bit lanes, then the newest mtime / ctime seen (float64 ms).
constexpr size_t kRecord = 24;

class DigestWorker : public Napi::AsyncWorker {
 public:
  DigestWorker(Napi::Env env, std::vector<std::string> paths, std::string skip)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        paths_(std::move(paths)),
        skip_(std::move(skip)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    out_.resize(paths_.size() * kRecord);
    for (size_t i = 0; i < paths_.size(); i++) {
      Walk w;
      w.skip = skip_;
      w.root(paths_[i]);
      std::memcpy(&out_[i * kRecord], &w.d.a, 8);
      std::memcpy(&out_[i * kRecord + 8], &w.d.b, 8);
      std::memcpy(&out_[i * kRecord + 16], &w.newest, 8);
    }
  }
  void OnOK() override { deferred_.Resolve(Napi::Buffer<uint8_t>::Copy(Env(), out_.data(), out_.size())); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<std::string> paths_;
  std::string skip_;
  std::vector<uint8_t> out_;
};

// treeDigest(paths: string[], skip: string): Promise<Buffer> of kRecord bytes per path (little-endian). Runs on a libuv
// pool thread; two calls run on two.
Napi::Value TreeDigest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsString()) {
    Napi::TypeError::New(env, "treeDigest(paths: string[], skip: string)").ThrowAsJavaScriptException();
    return env.Null();
  }
  std::vector<std::string> paths;
  if (!string_array(env, info[0], "treeDigest", paths)) return env.Null();
  auto* w = new DigestWorker(env, std::move(paths), info[1].As<Napi::String>().Utf8Value());
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

} // namespace

void InitTreeDigest(Napi::Env env, Napi::Object exports) {
  exports.Set("treeDigest", Napi::Function::New(env, TreeDigest, "treeDigest"));
}

} // namespace peft_fs
