// The addon is portable (issue 21): the common code is compiled for the baseline (x86-64-v2), never -march=native, and
// the AVX2 / AVX-512 code lives only in the per-ISA units (native/src/**/*_avx512.cc, *_avx2.cc, ...) that
// kernels/isa.cc picks at run time. Checked on the build itself: the generated makefiles' flags; no AVX register in
// any common object; and no AVX register in any function of the linked addon that a common object also defines (a
// shared template or inline function the linker may have kept from an ISA unit's copy: SIGILL on an older CPU).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ES module of the native build, without types
import { BASELINE, flagsFor } from '../../native/build-flags.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const BUILD = resolve(here, '..', '..', 'native', 'build');
const REL = join(BUILD, 'Release');
const COMMON = ['peft_engine_lib', 'peft_engine'].map((t) => join(REL, 'obj.target', t));
const ISA_TARGETS = ['peft_kern_avx512', 'peft_kern_avx512bf16', 'peft_kern_avx512vnni', 'peft_kern_avx2', 'peft_kern_scalar'];
const has = (tool: string) => spawnSync(tool, ['--version'], { encoding: 'utf8' }).status === 0;
const x64 = process.arch === 'x64';
const noBuild = existsSync(join(REL, 'peft_engine.node')) && existsSync(COMMON[0]) ? '' : 'no native/build/Release objects';
const binSkip = !x64
  ? 'not an x86-64 machine (ARM builds have only the scalar unit)'
  : noBuild || (has('objdump') && has('nm') ? '' : 'objdump / nm (binutils) not installed');

function objects(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? objects(p) : p.endsWith('.o') ? [p] : [];
  });
}
// Function name -> whether its body names a ymm / zmm register, from objdump's disassembly.
function avxFunctions(file: string): Set<string> {
  const out = execFileSync('objdump', ['-d', '--no-show-raw-insn', file], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const found = new Set<string>();
  let name = '';
  for (const line of out.split('\n')) {
    const m = /^[0-9a-f]+ <(.+)>:$/.exec(line);
    if (m) name = m[1];
    else if (/%[yz]mm\d/.test(line)) found.add(name);
  }
  return found;
}

describe('portable native build', () => {
  it(`common code flags: the baseline (${BASELINE.join(' ') || 'compiler default'}), never -march=native; ISA units add their own`, () => {
    const common: string[] = flagsFor('release');
    expect(common).not.toContain('-march=native');
    for (const f of BASELINE) expect(common).toContain(f);
    expect(flagsFor('avx2').join(' ')).toMatch(x64 ? /-mavx2 -mfma -mf16c -mno-avx512f/ : /^-ffp-contract=off$/);
    expect(flagsFor('avx512bf16').join(' ')).toMatch(x64 ? /-mavx512f .*-mavx512bf16/ : /^-ffp-contract=off$/);
    expect(flagsFor('avx512vnni').join(' ')).toMatch(x64 ? /-mavx512f .*-mavx512vnni/ : /^-ffp-contract=off$/);
  });
  it.skipIf(noBuild !== '')('the generated makefiles compile nothing with -march=native, the common library for the baseline', () => {
    const mks = readdirSync(BUILD).filter((f) => f.endsWith('.mk'));
    expect(mks).toEqual(expect.arrayContaining(['peft_engine_lib.target.mk', ...ISA_TARGETS.map((t) => `${t}.target.mk`)]));
    for (const mk of mks) expect(readFileSync(join(BUILD, mk), 'utf8')).not.toMatch(/-march=native/);
    if (x64) expect(readFileSync(join(BUILD, 'peft_engine_lib.target.mk'), 'utf8')).toMatch(/-march=x86-64-v2/);
  });
  it.skipIf(binSkip !== '')('no common object uses an AVX register', () => {
    const offenders = COMMON.flatMap(objects).filter((o) => avxFunctions(o).size > 0);
    expect(offenders).toEqual([]);
  });
  it.skipIf(binSkip !== '')('no function the common objects define (shared templates included) was linked from an ISA unit', () => {
    const common = new Set<string>();
    const nm = execFileSync('nm', ['--defined-only', ...COMMON.flatMap(objects)], { encoding: 'utf8', maxBuffer: 1 << 28 });
    for (const line of nm.split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f.length === 3 && /^[TWVu]$/.test(f[1])) common.add(f[2]);
    }
    const linked = avxFunctions(join(REL, 'peft_engine.node'));
    expect(linked.size).toBeGreaterThan(10); // the ISA units are in (the scan sees them)
    expect([...linked].filter((f) => common.has(f))).toEqual([]);
  });
});
