// Which instruction-set variant the dispatched kernels (kernels/simd.h: training and decode loops) run: avx512
// (F, BW, VL, DQ), avx2 (+FMA, F16C) or portable scalar. Chosen once from the CPU's features and what this build contains, overridable with PEFT_ISA.
#pragma once
#include <string>

namespace peft::kern {

enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2 };

const char* isa_name(Isa isa);
// The active variant: the first call reads PEFT_ISA (avx512|avx2|scalar) or picks the best the CPU and build can run;
// an unknown name, or a variant the CPU cannot run or the build lacks, throws EngineError (E_ENGINE) naming the fix.
Isa active_isa();
// Switch the variant (tests and benches); same checks as PEFT_ISA.
void set_isa(const std::string& name);
// Whether this build contains / this CPU can run a variant.
bool isa_built(Isa isa);
bool isa_cpu_supports(Isa isa);
bool cpu_has_avx512bf16();    // the AVX512-BF16 kernels (attention_bf16_avx512bf16.cc) need it on top of avx512
bool cpu_has_avx512vnni();    // the AVX512-VNNI int8 body (decode/rows_int8_avx512vnni.cc) needs it on top of avx512
std::string isa_info_built(); // e.g. "avx512 avx2 scalar"
std::string isa_info_cpu();
// e.g. "isa=avx2 (cpu: avx512 avx2 scalar; built: avx512 avx2 scalar)".
std::string isa_info();

} // namespace peft::kern
