// The built-in blocked sgemm (same contract as kern::sgemm); `parallel` spreads it over the thread pool.
#pragma once

namespace peft::kern {
void sgemm_builtin(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
                   int ldb, float beta, float* C, int ldc, bool parallel);
} // namespace peft::kern
