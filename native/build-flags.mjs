// Compiler flags for the addon, appended after node-gyp's defaults (Release: -O3): tuned for this CPU by default,
// -O1 with ASan/UBSan when PEFT_NATIVE_DEBUG=1 (the later -O wins). Never exclude -O3 in binding.gyp: that silently
// built the whole engine at -O0.
const debug = process.env.PEFT_NATIVE_DEBUG === '1';
const flags = debug
  ? ['-O1', '-g', '-fno-omit-frame-pointer', '-fsanitize=address,undefined']
  : ['-O3', '-march=native', '-fno-math-errno', '-fno-trapping-math'];
console.log(flags.join(' '));
