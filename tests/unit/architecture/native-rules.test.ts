// The native engine's layering (docs/ARCHITECTURE.md, "Native engine"), checked on native/src read as text: N-API only
// in the bindings (the engine's, the test addon's and the engine-free fs and text addons'), the engine core never includes a binding or the test addon, the production addon never sees the
// test addon, and the model / trainer / inference code runs every op through the Backend seam.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../../native/src', import.meta.url));
function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? walk(join(dir, f)) : [join(dir, f)]));
}
const files = walk(SRC)
  .filter((p) => /\.(cc|h)$/.test(p))
  .map((p) => ({ path: relative(SRC, p).split('\\').join('/'), text: readFileSync(p, 'utf8') }));
const includes = (text: string) => [...text.matchAll(/^#include\s+[<"]([^>"]+)[>"]/gm)].map((m) => m[1]);
const isBinding = (p: string) =>
  p.startsWith('binding/') || p.startsWith('test_addon/') || p.startsWith('fs_addon/') || p.startsWith('text_addon/') || p === 'addon.cc';
/** Code with comments and string literals blanked, so only real calls are matched. */
const code = (text: string) => text.replace(/\/\/.*$/gm, '').replace(/"(?:[^"\\\n]|\\.)*"/g, '""');

describe('native engine layering', () => {
  it('reads the tree', () => {
    expect(files.length).toBeGreaterThan(40);
    expect(files.map((f) => f.path)).toContain('backend/backend.h');
  });

  it('N-API appears only in the bindings (binding/, test_addon/, fs_addon/, text_addon/, addon.cc)', () => {
    const bad = files.filter((f) => !isBinding(f.path) && includes(f.text).some((i) => i === 'napi.h' || i.startsWith('binding/')));
    expect(bad.map((f) => f.path)).toEqual([]);
  });

  it('only the test addon includes test_addon/ files', () => {
    const bad = files.filter((f) => !f.path.startsWith('test_addon/') && includes(f.text).some((i) => i.startsWith('test_addon/')));
    expect(bad.map((f) => f.path)).toEqual([]);
  });

  it('the model, trainer and inference call no kernel or op directly: every op goes through the Backend', () => {
    // host-side helpers that are not computations on the backend's buffers (the rope table; load-time quantisation
    // of a mapped bf16 checkpoint tensor, like the FrozenLinear constructor's own)
    const HOST = new Set(['rope_table', 'nf4_quantize_bf16']);
    const offenders: string[] = [];
    for (const f of files.filter((x) => /^(llama|llama_load|gpt2_layer|gpt2_load|train|generate|moe\/moe|moe\/moe_load)\.cc$/.test(x.path)))
      for (const m of code(f.text).matchAll(/\b(ops|kern)::([a-z_0-9]+)\s*\(/g)) if (!HOST.has(m[2])) offenders.push(`${f.path}: ${m[1]}::${m[2]}`);
    expect(offenders).toEqual([]);
  });
});
