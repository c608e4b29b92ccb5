// Compiler flags for the addon: optimised by default, ASan/UBSan when PEFT_NATIVE_DEBUG=1.
const debug = process.env.PEFT_NATIVE_DEBUG === '1';
const flags = debug
  ? ['-O1', '-g', '-fno-omit-frame-pointer', '-fsanitize=address,undefined']
  : ['-O3', '-march=native', '-fno-math-errno', '-fno-trapping-math'];
console.log(flags.join(' '));
