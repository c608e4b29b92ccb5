// Portable body of the bf16 decode product (decode_rows.h), built without AVX: the reference the vector bodies are
// held to, and the path for CPUs without AVX2. (The NF4 and fp32 bodies are gemv_scalar.cc's.)
#include <cstdint>
#include <cstring>

namespace peft::kern {

void decode_bf16_rows_scalar(const uint16_t* W, int out, int in, const float* x, int T, float* y, int o0, int o1) {
  for (int o = o0; o < o1; o++)
    for (int t = 0; t < T; t++) {
      const uint16_t* w = W + (size_t)o * in;
      const float* xr = x + (size_t)t * in;
      float s = 0.f;
      for (int i = 0; i < in; i++) {
        const uint32_t bits = (uint32_t)w[i] << 16;
        float wf;
        std::memcpy(&wf, &bits, 4);
        s += wf * xr[i];
      }
      y[(size_t)t * out + o] = s;
    }
}

} // namespace peft::kern
