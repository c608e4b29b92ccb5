// Lists the C++ sources of each binding.gyp target (every .cc under native/src, so new files need no gyp edit):
// `lib` the engine and its production bindings (a static library both addons link), `addon` the production addon's
// entry (src/addon.cc), `test` the test addon (src/test_addon/: raw kernels and ops for tests and benchmarks),
// `avx512` / `avx512bf16` / `avx512vnni` / `avx2` / `scalar` the per-ISA kernel variants (*_avx512.cc, ...: their own targets with
// their own ISA flags, see build-flags.mjs), `fs` the small peft_fs addon (src/fs_addon/: folder scans for the build core), `text` the small peft_text addon
// (src/text_addon/: the dataset stage's per-chunk word encoding and digests).
import { readdirSync, statSync } from 'node:fs';
import { join, relative, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
function walk(dir) {
  return readdirSync(dir)
    .sort()
    .flatMap((f) => {
      const p = join(dir, f);
      if (statSync(p).isDirectory()) return f === 'cuda' ? [] : walk(p);
      return p.endsWith('.cc') ? [p] : [];
    });
}
const all = walk(join(here, 'src')).map((p) => relative(here, p));
const ADDON = 'src/addon.cc';
const TEST = 'src/test_addon/';
const FS = 'src/fs_addon/';
const TEXT = 'src/text_addon/';
const part = process.argv[2] ?? 'lib';
const pick = {
  lib: (p) => p !== ADDON && !p.startsWith(TEST) && !p.startsWith(FS) && !p.startsWith(TEXT) && !/_(avx512|avx512bf16|avx512vnni|avx2|scalar)\.cc$/.test(p),
  addon: (p) => p === ADDON,
  test: (p) => p.startsWith(TEST),
  fs: (p) => p.startsWith(FS),
  text: (p) => p.startsWith(TEXT),
  avx512: (p) => p.endsWith('_avx512.cc'),
  avx512bf16: (p) => p.endsWith('_avx512bf16.cc'),
  avx512vnni: (p) => p.endsWith('_avx512vnni.cc'),
  avx2: (p) => p.endsWith('_avx2.cc'),
  scalar: (p) => p.endsWith('_scalar.cc'),
}[part];
if (!pick) {
  console.error(`sources.mjs: unknown part '${part}' (lib, addon, test, fs, text, avx512, avx512bf16, avx512vnni, avx2 or scalar)`);
  process.exit(1);
}
console.log(all.filter(pick).join(' '));
