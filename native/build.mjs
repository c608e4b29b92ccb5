// Builds the native addon with node-gyp against the local Node headers (never downloads them) and says
// which optional libraries (OpenBLAS, oneDNN) it found. Run by `npm install` and `npm run build:native`.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { features } from './detect.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

// Node's own headers: the prefix of the running node, where include/node/node_api.h lives.
const prefix = dirname(dirname(process.execPath));
const nodedir = existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined;

console.log(
  `peftmake native build: sgemm=${features.openblas ? 'OpenBLAS (or the built-in AVX-512 kernel at run time where OpenBLAS has only AVX2 kernels)' : 'built-in blocked sgemm (apt-get install libopenblas-dev for speed)'}, bf16=${features.dnnl ? 'oneDNN' : 'none (apt-get install libdnnl-dev for the bf16 fast path)'}${process.env.PEFT_NATIVE_DEBUG === '1' ? ', debug + sanitizers' : ''}`,
);

const gyp = require.resolve('node-gyp/bin/node-gyp.js');
const args = [gyp, 'rebuild', `--directory=${here}`, `--jobs=${process.env.JOBS ?? 'max'}`];
if (nodedir) args.push(`--nodedir=${nodedir}`);
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
if (r.status !== 0) {
  console.error('peftmake: the native engine failed to build (see the compiler output above). g++ >= 9, make and python3 are needed.');
  process.exit(r.status ?? 1);
}
