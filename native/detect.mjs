// Detects optional system libraries for the native build (OpenBLAS for sgemm, oneDNN for bf16 matmul)
// and prints gyp-ready defines or link flags: `node detect.mjs defines|libs|report`.
import { existsSync } from 'node:fs';

const has = (paths) => paths.some((p) => existsSync(p));
const libDirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib'];
const lib = (name) => libDirs.some((d) => existsSync(`${d}/lib${name}.so`));

export const features = {
  openblas: process.env.PEFT_NO_OPENBLAS
    ? false
    : has(['/usr/include/x86_64-linux-gnu/cblas.h', '/usr/include/cblas.h', '/usr/include/openblas/cblas.h']) && lib('openblas'),
  dnnl: process.env.PEFT_NO_DNNL ? false : has(['/usr/include/oneapi/dnnl/dnnl.hpp', '/usr/include/dnnl.hpp']) && lib('dnnl'),
};

const mode = process.argv[2];
if (mode === 'defines') {
  const d = [];
  if (features.openblas) d.push('PEFT_HAVE_OPENBLAS=1');
  if (features.dnnl) d.push('PEFT_HAVE_DNNL=1');
  console.log(d.join(' '));
} else if (mode === 'libs') {
  const l = [];
  if (features.openblas) l.push('-lopenblas');
  if (features.dnnl) l.push('-ldnnl', '-lgomp'); // oneDNN (Debian) threads with OpenMP; we set its thread count
  console.log(l.join(' '));
} else if (mode === 'includes') {
  console.log(['/usr/include/openblas', '/usr/include/x86_64-linux-gnu'].filter(existsSync).join(' '));
} else if (mode === 'report') {
  console.log(JSON.stringify(features));
}
