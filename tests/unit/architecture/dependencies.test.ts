// Every runtime dependency in package.json is imported (or run) by the project's code, or listed here with its reason:
// a package nothing uses is weight every install pays for (zx was one: removed, see the README).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
/** Dependencies no code imports yet, with why they stay. */
const NOT_IMPORTED: Record<string, string> = {
  'onnxruntime-node': 'runs the ONNX export (the exports issue); its install script is disabled in allowScripts',
  'ajv-formats': 'string formats for the pipeline schema (design card); no schema field uses a format yet',
};

function files(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'build' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) files(p, out);
    else if (/\.(ts|mjs|js|cjs|gyp)$/.test(name)) out.push(p);
  }
  return out;
}

describe('dependencies', () => {
  it('are all used by the code, or say why not', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; scripts: Record<string, string> };
    const code = ['src', 'stages', 'bin', 'bench', 'scripts', 'native']
      .flatMap((d) => files(join(ROOT, d)))
      .map((f) => readFileSync(f, 'utf8'))
      .concat(Object.values(pkg.scripts))
      .join('\n');
    const unused = Object.keys(pkg.dependencies).filter(
      (d) => !NOT_IMPORTED[d] && !new RegExp(`['"\`]${d.replace(/[/.]/g, '\\$&')}(/[^'"\`]*)?['"\`]|^${d}\\b|\\b${d} `, 'm').test(code),
    );
    expect(unused).toEqual([]);
    for (const d of Object.keys(NOT_IMPORTED)) expect(Object.keys(pkg.dependencies), `${d} is no longer a dependency: drop it from NOT_IMPORTED`).toContain(d);
  });
});
