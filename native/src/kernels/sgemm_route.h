// Which library kern::sgemm runs a call on (sgemm.cc): OpenBLAS, the built-in kernel, or oneDNN by sgemm_onednn.cc's rule.
#pragma once
#include <string>

namespace peft::kern {
bool sgemm_uses_openblas(); // OpenBLAS is the library (else the built-in kernel) for what oneDNN does not take
bool sgemm_uses_onednn();   // oneDNN takes the untransposed-A products (sgemm_onednn_route)
// "onednn-matmul", "onednn-gemm", "openblas" or "builtin" for a call with these transposes, N, K and alpha.
std::string sgemm_route(bool tA, bool tB, int N, int K, float alpha);
} // namespace peft::kern
