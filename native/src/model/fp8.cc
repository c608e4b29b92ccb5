// FP8 e4m3fn block-scaled checkpoints: the quantization_config keys, the checks that every FP8 weight has well-shaped
// scales (before anything is loaded), and the block-by-block dequantisation (value = e4m3 * scale_inv of its block).
#include "model/fp8.h"
#include <cmath>
#include <vector>
#include "error.h"

namespace peft {
namespace {

const std::string SUFFIX = "_scale_inv";

[[noreturn]] void fail(const std::string& file, const std::string& msg) {
  throw EngineError("E_MODEL", file + ": " + msg);
}

// The 256 float8_e4m3fn values: 1 sign, 4 exponent (bias 7), 3 mantissa bits; no infinities, S.1111.111 is NaN.
const float* e4m3_table() {
  static const std::vector<float> t = [] {
    std::vector<float> v(256);
    for (int b = 0; b < 256; b++) {
      const int s = b >> 7, e = (b >> 3) & 15, m = b & 7;
      float x;
      if (e == 15 && m == 7)
        x = NAN;
      else if (e == 0)
        x = std::ldexp((float)m / 8.f, -6);
      else
        x = std::ldexp(1.f + (float)m / 8.f, e - 7);
      v[b] = s ? -x : x;
    }
    return v;
  }();
  return t.data();
}

int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

} // namespace

void parse_quantization_config(const json::Value& root, const std::string& file, ModelConfig& cfg) {
  const json::Value* q = root.get("quantization_config");
  if (!q || q->is_null()) return;
  if (!q->is_object()) fail(file, "key \"quantization_config\" must be an object");
  const json::Value* meth = q->get("quant_method");
  if (!meth || !meth->is_string() || meth->string != "fp8")
    fail(file, "quantization_config.quant_method " +
                   (meth && meth->is_string() ? "\"" + meth->string + "\"" : "(none)") +
                   " is not supported; the engine reads float checkpoints and fp8 (e4m3, block scales)");
  if (const json::Value* fmt = q->get("fmt"); fmt && fmt->is_string() && fmt->string != "e4m3")
    fail(file, "quantization_config.fmt \"" + fmt->string + "\" is not supported (e4m3 only)");
  if (const json::Value* bs = q->get("weight_block_size"); bs && !bs->is_null()) {
    if (!bs->is_array() || bs->array.size() != 2 || !bs->array[0].is_integer || !bs->array[1].is_integer ||
        bs->array[0].integer < 1 || bs->array[1].integer < 1)
      fail(file, "quantization_config.weight_block_size must be [rows, cols], e.g. [128, 128]");
    cfg.fp8_block_rows = (int)bs->array[0].integer;
    cfg.fp8_block_cols = (int)bs->array[1].integer;
  }
}

std::string fp8_scale_base(const std::string& name) {
  if (name.size() <= SUFFIX.size() || name.compare(name.size() - SUFFIX.size(), SUFFIX.size(), SUFFIX) != 0) return "";
  return name.substr(0, name.size() - SUFFIX.size());
}

bool fp8_scale_of(const ModelFiles& mf, const std::string& name, bool base_expected, const std::string& file) {
  const std::string base = fp8_scale_base(name);
  if (base.empty() || !base_expected) return false;
  const TensorView* w = mf.find(base);
  if (!w || w->dtype != "F8_E4M3")
    fail(file, "tensor \"" + name + "\" holds block scales, but \"" + base + "\" is " +
                   (w ? "stored as " + w->dtype + ", not F8_E4M3" : "missing") +
                   " (drop the scales or the weight's cast)");
  return true;
}

void check_fp8_scales(const ModelFiles& mf, const TensorView& t, const std::string& file) {
  if (t.dtype == "F8_E5M2")
    fail(file, "tensor \"" + t.name + "\" is F8_E5M2; only F8_E4M3 (float8_e4m3fn) checkpoints are supported");
  if (t.dtype != "F8_E4M3") return;
  const TensorView* s = mf.find(t.name + SUFFIX);
  if (!s)
    fail(file, "FP8 tensor \"" + t.name + "\" has no block scales \"" + t.name + SUFFIX +
                   "\" (an F8_E4M3 weight needs its weight_scale_inv; add it from the original checkpoint)");
  if (t.shape.size() != 2) fail(file, "FP8 tensor \"" + t.name + "\" must be a matrix to have block scales");
  const int br = mf.cfg.fp8_block_rows, bc = mf.cfg.fp8_block_cols;
  const std::vector<int64_t> want{cdiv(t.shape[0], br), cdiv(t.shape[1], bc)};
  if (s->shape != want)
    fail(file, "tensor \"" + s->name + "\" has shape [" +
                   (s->shape.size() == 2 ? std::to_string(s->shape[0]) + ", " + std::to_string(s->shape[1]) : "?") +
                   "], the FP8 weight \"" + t.name + "\" with blocks of " + std::to_string(br) + "x" +
                   std::to_string(bc) + " needs [" + std::to_string(want[0]) + ", " + std::to_string(want[1]) + "]");
  if (s->dtype != "F32" && s->dtype != "BF16" && s->dtype != "F16")
    fail(file, "tensor \"" + s->name + "\" must be F32, BF16 or F16 (block scales), got " + s->dtype);
}

void fp8_dequantize(const TensorView& w, const TensorView& scale_inv, int br, int bc, float* out) {
  const int64_t rows = w.shape[0], cols = w.shape[1], sc = cdiv(cols, bc);
  std::vector<float> s((size_t)scale_inv.numel());
  scale_inv.to_f32(s.data());
  const float* lut = e4m3_table();
  for (int64_t r = 0; r < rows; r++) {
    const float* srow = s.data() + (r / br) * sc;
    const uint8_t* src = w.data + r * cols;
    float* dst = out + r * cols;
    for (int64_t c = 0; c < cols; c++) dst[c] = lut[src[c]] * srow[c / bc];
  }
}

} // namespace peft
