// Memory-mapped safetensors files: header validation (length, JSON, dtypes, shapes, offsets, overlap, coverage),
// float conversion of F32/F16/BF16 tensors, and the atomic F32 writer.
#include "model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

#include "error.h"
#include "model/json.h"

namespace peft {
namespace {

constexpr uint64_t kMaxHeader = 100000000; // as the reference implementation

[[noreturn]] void fail(const std::string& file, const std::string& msg) {
  throw EngineError("E_MODEL", file + ": " + msg);
}

int dtype_size(const std::string& dt) {
  if (dt == "F32") return 4;
  if (dt == "F16" || dt == "BF16") return 2;
  if (dt == "F8_E4M3" || dt == "F8_E5M2") return 1; // FP8 weights, dequantised with their block scales (model/fp8.cc)
  return 0;
}

bool known_dtype(const std::string& dt) {
  static const char* all[] = {"BOOL", "U8",  "I8",  "F8_E4M3", "F8_E5M2", "I16", "U16", "F16",
                              "BF16", "I32", "U32", "F32",     "I64",     "U64", "F64"};
  for (const char* a : all)
    if (dt == a) return true;
  return false;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

float half_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else { // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400) == 0);
      mant &= 0x3ff;
      bits = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

} // namespace

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

void TensorView::to_f32(float* out) const {
  const int64_t n = numel();
  if (dtype == "F32") {
    std::memcpy(out, data, static_cast<size_t>(n) * 4); // little-endian host
  } else if (dtype == "BF16") {
    for (int64_t i = 0; i < n; ++i) {
      uint16_t v;
      std::memcpy(&v, data + 2 * i, 2);
      uint32_t bits = static_cast<uint32_t>(v) << 16;
      std::memcpy(out + i, &bits, 4);
    }
  } else if (dtype == "F16") {
    for (int64_t i = 0; i < n; ++i) {
      uint16_t v;
      std::memcpy(&v, data + 2 * i, 2);
      out[i] = half_to_float(v);
    }
  } else {
    throw EngineError("E_MODEL", "tensor \"" + name + "\": dtype " + dtype + " cannot be converted to f32");
  }
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    fail(path, std::string("cannot stat: ") + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path, "is not a regular file");
  }
  size_ = static_cast<size_t>(st.st_size);
  if (size_ < 8) {
    ::close(fd);
    fail(path, "file is " + std::to_string(size_) +
                   " bytes, too short for the 8-byte header length (truncated or not safetensors)");
  }
  void* m = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  int map_errno = errno;
  ::close(fd);
  if (m == MAP_FAILED) fail(path, std::string("cannot mmap: ") + std::strerror(map_errno));
  map_ = m;
  try {
    const uint8_t* base = static_cast<const uint8_t*>(map_);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | base[i]; // little-endian u64
    const std::string bad = " (the file is not valid safetensors; re-export it)";
    if (n < 2) fail(path, "header length " + std::to_string(n) + " is too small for a JSON object" + bad);
    if (n > size_ - 8)
      fail(path, "header length " + std::to_string(n) + " exceeds the file size " + std::to_string(size_) +
                     " (truncated file?)");
    if (n > kMaxHeader) fail(path, "header length " + std::to_string(n) + " exceeds the 100000000-byte limit" + bad);
    const char* hdr = reinterpret_cast<const char*>(base + 8);
    if (hdr[0] != '{') fail(path, "header does not start with '{'" + bad);
    json::Value root = json::parse(hdr, static_cast<size_t>(n), path + " (safetensors header)", "E_MODEL");
    if (!root.is_object()) fail(path, "header JSON is not an object" + bad);
    const size_t data_start = 8 + static_cast<size_t>(n);
    const uint64_t data_len = size_ - data_start;
    struct Range {
      uint64_t begin, end;
      const std::string* name;
    };
    std::vector<Range> ranges;
    for (const auto& kv : root.object) {
      const std::string& name = kv.first;
      const json::Value& e = kv.second;
      if (name == "__metadata__") {
        if (!e.is_object()) fail(path, "__metadata__ must be an object of strings");
        for (const auto& m2 : e.object) {
          if (!m2.second.is_string()) fail(path, "__metadata__." + m2.first + " is not a string");
          metadata_[m2.first] = m2.second.string;
        }
        continue;
      }
      const std::string where = "tensor \"" + name + "\": ";
      if (!e.is_object()) fail(path, where + "entry is not an object");
      const json::Value* dt = e.get("dtype");
      const json::Value* sh = e.get("shape");
      const json::Value* off = e.get("data_offsets");
      if (!dt || !dt->is_string()) fail(path, where + "dtype is missing or not a string");
      if (!known_dtype(dt->string)) fail(path, where + "unknown dtype \"" + dt->string + "\"");
      const int width = dtype_size(dt->string);
      if (width == 0)
        fail(path, where + "dtype " + dt->string + " is not supported (the engine reads F32, F16, BF16 and F8_E4M3)");
      if (!sh || !sh->is_array()) fail(path, where + "shape is missing or not an array");
      TensorView tv;
      tv.name = name;
      tv.dtype = dt->string;
      uint64_t numel = 1;
      bool overflow = false;
      for (const auto& d : sh->array) {
        if (!d.is_number() || !d.is_integer || d.integer < 0)
          fail(path, where + "shape must hold non-negative integers");
        tv.shape.push_back(d.integer);
        uint64_t ud = static_cast<uint64_t>(d.integer);
        if (ud != 0 && numel > (UINT64_C(1) << 62) / ud) overflow = true;
        numel *= ud;
      }
      if (!off || !off->is_array() || off->array.size() != 2 || !off->array[0].is_integer ||
          !off->array[1].is_integer || off->array[0].integer < 0 || off->array[1].integer < 0)
        fail(path, where + "data_offsets must be [begin, end] non-negative integers");
      const uint64_t b = static_cast<uint64_t>(off->array[0].integer);
      const uint64_t en = static_cast<uint64_t>(off->array[1].integer);
      if (en < b)
        fail(path, where + "data_offsets [" + std::to_string(b) + ", " + std::to_string(en) + "] end before begin");
      if (en > data_len)
        fail(path, where + "data_offsets [" + std::to_string(b) + ", " + std::to_string(en) + "] lie outside the " +
                       std::to_string(data_len) + "-byte data section (truncated file?)");
      if (overflow || numel * static_cast<uint64_t>(width) != en - b)
        fail(path, where + "shape " + shape_str(tv.shape) + " x " + tv.dtype + " needs " +
                       (overflow ? std::string("too many") : std::to_string(numel * width)) +
                       " bytes but data_offsets span " + std::to_string(en - b));
      tv.data = base + data_start + b;
      tv.nbytes = static_cast<size_t>(en - b);
      auto ins = tensors_.emplace(name, std::move(tv));
      ranges.push_back({b, en, &ins.first->first});
    }
    std::sort(ranges.begin(), ranges.end(),
              [](const Range& x, const Range& y) { return x.begin != y.begin ? x.begin < y.begin : x.end < y.end; });
    uint64_t pos = 0;
    const std::string* prev = nullptr;
    for (const Range& r : ranges) {
      if (r.begin < pos)
        fail(path, "tensor \"" + *r.name + "\": data_offsets [" + std::to_string(r.begin) + ", " +
                       std::to_string(r.end) + "] overlap tensor \"" + (prev ? *prev : std::string("?")) + "\"");
      if (r.begin > pos)
        fail(path, "tensor \"" + *r.name + "\": hole of " + std::to_string(r.begin - pos) +
                       " bytes before its data_offsets [" + std::to_string(r.begin) + ", " + std::to_string(r.end) +
                       "]");
      pos = r.end;
      prev = r.name;
    }
    if (pos != data_len)
      fail(path, "tensors cover " + std::to_string(pos) + " bytes but the data section has " +
                     std::to_string(data_len) + " (trailing bytes or truncated file)");
  } catch (...) {
    ::munmap(map_, size_);
    map_ = nullptr;
    throw;
  }
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, size_);
}

const TensorView* ModelFiles::find(const std::string& name) const {
  auto it = tensors.find(name);
  return it == tensors.end() ? nullptr : &it->second;
}

void write_safetensors_f32(const std::string& path, const std::vector<NamedTensor>& tensors,
                           const std::map<std::string, std::string>& metadata) {
  std::vector<const NamedTensor*> order;
  for (const auto& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const NamedTensor* a, const NamedTensor* b) { return a->name < b->name; });
  for (size_t i = 0; i < order.size(); ++i) {
    if (order[i]->name.empty() || order[i]->name == "__metadata__")
      fail(path, "invalid tensor name \"" + order[i]->name + "\"");
    if (i > 0 && order[i]->name == order[i - 1]->name) fail(path, "tensor \"" + order[i]->name + "\" given twice");
    for (int64_t d : order[i]->shape)
      if (d < 0) fail(path, "tensor \"" + order[i]->name + "\": negative dimension");
  }
  std::string header = "{";
  bool first = true;
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool f2 = true;
    for (const auto& kv : metadata) {
      header += (f2 ? "" : ",") + json::quote(kv.first) + ":" + json::quote(kv.second);
      f2 = false;
    }
    header += "}";
    first = false;
  }
  uint64_t off = 0;
  for (const NamedTensor* t : order) {
    int64_t n = 1;
    for (int64_t d : t->shape) n *= d;
    const uint64_t bytes = static_cast<uint64_t>(n) * 4;
    std::string shape = "[";
    for (size_t i = 0; i < t->shape.size(); ++i) shape += (i ? "," : "") + std::to_string(t->shape[i]);
    shape += "]";
    header += (first ? "" : ",") + json::quote(t->name) + ":{\"dtype\":\"F32\",\"shape\":" + shape +
              ",\"data_offsets\":[" + std::to_string(off) + "," + std::to_string(off + bytes) + "]}";
    first = false;
    off += bytes;
  }
  header += "}";
  while (header.size() % 8 != 0) header += ' ';

  std::random_device rd;
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(rd());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(path, std::string("cannot create temp file: ") + std::strerror(errno));
  auto write_all = [&](const void* p, size_t n) {
    const char* c = static_cast<const char*>(p);
    while (n > 0) {
      ssize_t w = ::write(fd, c, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        int e = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        fail(path, std::string("write failed: ") + std::strerror(e));
      }
      c += w;
      n -= static_cast<size_t>(w);
    }
  };
  uint8_t len[8];
  uint64_t hl = header.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(hl >> (8 * i));
  write_all(len, 8);
  write_all(header.data(), header.size());
  for (const NamedTensor* t : order) {
    int64_t n = 1;
    for (int64_t d : t->shape) n *= d;
    if (n > 0) write_all(t->data, static_cast<size_t>(n) * 4);
  }
  const int synced = ::fsync(fd);
  const int closed = ::close(fd);
  if (synced != 0 || closed != 0) {
    ::unlink(tmp.c_str());
    fail(path, "cannot flush the written file");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    fail(path, std::string("cannot rename the temp file into place: ") + std::strerror(e));
  }
}

} // namespace peft
