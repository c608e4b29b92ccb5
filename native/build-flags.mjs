// Compiler flags for the addon, appended after node-gyp's defaults (Release: -O3). Portable: the common code is built
// for a baseline (x86-64-v2: SSE4.2, POPCNT; ARM: the compiler's default), never -march=native, so an addon built on
// one CPU runs on any other; the hot kernels live in per-ISA translation units (*_avx512.cc, *_avx512bf16.cc,
// *_avx512vnni.cc, *_avx2.cc, *_scalar.cc, each its own gyp target with the flags printed by `node build-flags.mjs <isa>`) that
// kernels/isa.cc picks at run time from cpuid. The ISA units are built with -ffp-contract=off so that a kernel's
// results do not depend on where the compiler chose to fuse: every FMA is written out. -O1 with ASan/UBSan when
// PEFT_NATIVE_DEBUG=1 (the later -O wins). Never exclude -O3 in binding.gyp: that silently built the whole engine at
// -O0. `node build-flags.mjs ldflags` prints the link flags (the sanitizer runtimes).
// Running the native tests on a sanitizer build (node itself is not instrumented, so ASan must be preloaded):
//   PEFT_NATIVE_DEBUG=1 npm run build:native
//   LD_PRELOAD=$(g++ -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0 npx vitest run tests/native
const debug = process.env.PEFT_NATIVE_DEBUG === '1';
const sanitize = '-fsanitize=address,undefined';
const x86 = process.arch === 'x64' || process.arch === 'ia32';
const mode = process.argv[2];
const AVX512 = ['-mavx512f', '-mavx512bw', '-mavx512vl', '-mavx512dq', '-mavx2', '-mfma', '-mf16c'];
const ISA = {
  avx512: x86 ? AVX512 : [],
  avx512bf16: x86 ? [...AVX512, '-mavx512bf16'] : [],
  avx512vnni: x86 ? [...AVX512, '-mavx512vnni'] : [],
  avx2: x86 ? ['-mavx2', '-mfma', '-mf16c', '-mno-avx512f'] : [],
  scalar: x86 ? ['-mno-avx'] : [],
};
// The common code's target: a baseline every x86-64 CPU of the last 15 years runs (exported for the build test).
export const BASELINE = x86 ? ['-march=x86-64-v2', '-mtune=generic'] : [];
function flagsFor(m) {
  if (m in ISA) return [...ISA[m], '-ffp-contract=off'];
  if (m === 'ldflags') return debug ? [sanitize] : [];
  return debug ? ['-O1', '-g', '-fno-omit-frame-pointer', sanitize, ...BASELINE] : ['-O3', ...BASELINE, '-fno-math-errno', '-fno-trapping-math'];
}
if (process.argv[1] && import.meta.url === `file://${process.argv[1]}`) console.log(flagsFor(mode).join(' '));
export { flagsFor };
