// Compiler flags for the addon, appended after node-gyp's defaults (Release: -O3): tuned for this CPU by default,
// -O1 with ASan/UBSan when PEFT_NATIVE_DEBUG=1 (the later -O wins). Never exclude -O3 in binding.gyp: that silently
// built the whole engine at -O0. `node build-flags.mjs ldflags` prints the link flags (the sanitizer runtimes).
// Running the native tests on a sanitizer build (node itself is not instrumented, so ASan must be preloaded):
//   PEFT_NATIVE_DEBUG=1 npm run build:native
//   LD_PRELOAD=$(g++ -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0 npx vitest run tests/native
const debug = process.env.PEFT_NATIVE_DEBUG === '1';
const sanitize = '-fsanitize=address,undefined';
const flags = process.argv[2] === 'ldflags'
  ? (debug ? [sanitize] : [])
  : debug
    ? ['-O1', '-g', '-fno-omit-frame-pointer', sanitize]
    : ['-O3', '-march=native', '-fno-math-errno', '-fno-trapping-math'];
console.log(flags.join(' '));
