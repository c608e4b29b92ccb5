// Compiler flags for the addon, appended after node-gyp's defaults (Release: -O3): tuned for this CPU by default,
// -O1 with ASan/UBSan when PEFT_NATIVE_DEBUG=1 (the later -O wins). Never exclude -O3 in binding.gyp: that silently
// built the whole engine at -O0. `node build-flags.mjs ldflags` prints the link flags (the sanitizer runtimes);
// `avx2` / `scalar` the flags added for the per-ISA kernel variants (x86: AVX2+FMA+F16C without AVX-512 / no AVX at
// all, whatever -march=native allowed, so an AVX-512 build still carries paths for AVX2-only and older CPUs).
// Running the native tests on a sanitizer build (node itself is not instrumented, so ASan must be preloaded):
//   PEFT_NATIVE_DEBUG=1 npm run build:native
//   LD_PRELOAD=$(g++ -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0 npx vitest run tests/native
const debug = process.env.PEFT_NATIVE_DEBUG === '1';
const sanitize = '-fsanitize=address,undefined';
const x86 = process.arch === 'x64' || process.arch === 'ia32';
const mode = process.argv[2];
const flags =
  mode === 'avx2'
    ? x86
      ? ['-mavx2', '-mfma', '-mf16c', '-mno-avx512f']
      : []
    : mode === 'scalar'
      ? x86
        ? ['-mno-avx']
        : []
      : mode === 'ldflags'
        ? debug
          ? [sanitize]
          : []
        : debug
          ? ['-O1', '-g', '-fno-omit-frame-pointer', sanitize]
          : ['-O3', '-march=native', '-fno-math-errno', '-fno-trapping-math'];
console.log(flags.join(' '));
