// peft_fs addon: one call lists a folder and stats its entries (the build core's no-op path stats every input file;
// in JS each stat allocated a Stats object with four Dates). No engine code and no libraries: it loads in well
// under a millisecond, so a no-op build never loads the engine.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <napi.h>

#include "fs_addon/hash_files.h"
#include "fs_addon/tree_digest.h"

namespace {

// Entry kinds as the walk sees them (the entry itself, links not followed).
constexpr uint8_t kOther = 0, kFile = 1, kDir = 2, kLink = 3;
// Per entry: size, inode, mtime seconds, mtime nanoseconds, ctime seconds, ctime nanoseconds of what the name
// resolves to (links followed, as stat does); NaN where that stat failed (a dangling link: JS stats it again and
// reports the error). Milliseconds are computed in JS exactly as Node's Stats computes mtimeMs / ctimeMs.
constexpr int kFields = 6;

// scanDir(dir): { names: string[], kinds: Uint8Array, stats: Float64Array } or null when the folder cannot be read.
Napi::Value ScanDir(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "scanDir(dir: string)").ThrowAsJavaScriptException();
    return env.Null();
  }
  const std::string dir = info[0].As<Napi::String>().Utf8Value();
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return env.Null();
  DIR* d = fdopendir(fd);
  if (!d) {
    close(fd);
    return env.Null();
  }
  std::vector<std::string> names;
  std::vector<uint8_t> kinds;
  std::vector<double> stats;
  while (dirent* e = readdir(d)) {
    const char* n = e->d_name;
    if (n[0] == '.' && (n[1] == 0 || (n[1] == '.' && n[2] == 0))) continue;
    uint8_t kind = kOther;
    unsigned char t = e->d_type;
    if (t == DT_UNKNOWN) {
      struct stat l;
      if (fstatat(fd, n, &l, AT_SYMLINK_NOFOLLOW) == 0)
        t = S_ISREG(l.st_mode) ? DT_REG : S_ISDIR(l.st_mode) ? DT_DIR : S_ISLNK(l.st_mode) ? DT_LNK : DT_UNKNOWN;
    }
    if (t == DT_REG)
      kind = kFile;
    else if (t == DT_DIR)
      kind = kDir;
    else if (t == DT_LNK)
      kind = kLink;
    names.emplace_back(n);
    kinds.push_back(kind);
    struct stat st;
    if ((kind == kFile || kind == kLink) && fstatat(fd, n, &st, 0) == 0) {
      stats.push_back(static_cast<double>(st.st_size));
      stats.push_back(static_cast<double>(st.st_ino));
      stats.push_back(static_cast<double>(st.st_mtim.tv_sec));
      stats.push_back(static_cast<double>(st.st_mtim.tv_nsec));
      stats.push_back(static_cast<double>(st.st_ctim.tv_sec));
      stats.push_back(static_cast<double>(st.st_ctim.tv_nsec));
    } else {
      for (int i = 0; i < kFields; i++) stats.push_back(std::numeric_limits<double>::quiet_NaN());
    }
  }
  closedir(d);
  Napi::Array jsNames = Napi::Array::New(env, names.size());
  for (size_t i = 0; i < names.size(); i++) jsNames.Set(static_cast<uint32_t>(i), Napi::String::New(env, names[i]));
  Napi::Uint8Array jsKinds = Napi::Uint8Array::New(env, kinds.size());
  if (!kinds.empty()) std::memcpy(jsKinds.Data(), kinds.data(), kinds.size());
  Napi::Float64Array jsStats = Napi::Float64Array::New(env, stats.size());
  if (!stats.empty()) std::memcpy(jsStats.Data(), stats.data(), stats.size() * sizeof(double));
  Napi::Object out = Napi::Object::New(env);
  out.Set("names", jsNames);
  out.Set("kinds", jsKinds);
  out.Set("stats", jsStats);
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("scanDir", Napi::Function::New(env, ScanDir, "scanDir"));
  peft_fs::InitTreeDigest(env, exports);
  peft_fs::InitHashFiles(env, exports);
  return exports;
}

} // namespace

NODE_API_MODULE(peft_fs, Init)
