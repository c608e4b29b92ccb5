// Memory-mapped, fully validated safetensors files and Hugging Face model directories (single file or
// sharded via model.safetensors.index.json). Every header, dtype, shape and offset is checked before use.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>
#include "config.h"

namespace peft {

struct TensorView {
  std::string name;
  std::string dtype; // F32 | F16 | BF16 (others rejected with E_MODEL)
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr; // inside the mapping
  size_t nbytes = 0;
  int64_t numel() const;
  void to_f32(float* out) const; // converts any supported dtype
};

class SafetensorsFile {
 public:
  // Maps and validates: header length, JSON, dtypes, shape x dtype size == byte range, ranges inside the
  // file, non-overlapping, and covering the data section. Throws EngineError(E_MODEL) naming the tensor.
  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;
  const std::string& path() const { return path_; }
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::string path_;
  void* map_ = nullptr;
  size_t size_ = 0;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

struct ModelFiles {
  std::string dir;
  ModelConfig cfg;
  std::vector<std::unique_ptr<SafetensorsFile>> files;
  std::map<std::string, TensorView> tensors;             // HF names (model.layers.0.self_attn.q_proj.weight, ...)
  const TensorView* find(const std::string& name) const; // nullptr when absent
};

// Loads config.json + weights and checks every expected tensor is present with the shape the config implies,
// and that no unexpected tensor is present (E_MODEL, naming the first offender).
ModelFiles load_model_dir(const std::string& dir);

// Writes a safetensors file (F32 tensors, sorted by name, header padded to 8 bytes, metadata {"format":"pt"}),
// atomically (temp file + rename). Used for adapters and random-init models.
struct NamedTensor {
  std::string name;
  std::vector<int64_t> shape;
  const float* data;
};
void write_safetensors_f32(const std::string& path, const std::vector<NamedTensor>& tensors,
                           const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

} // namespace peft
