// Lists the addon's C++ sources for binding.gyp (every .cc under native/src), so new files need no gyp edit.
import { readdirSync, statSync } from 'node:fs';
import { join, relative, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
function walk(dir) {
  return readdirSync(dir).sort().flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return f === 'cuda' ? [] : walk(p);
    return p.endsWith('.cc') ? [p] : [];
  });
}
console.log(walk(join(here, 'src')).map((p) => relative(here, p)).join(' '));
