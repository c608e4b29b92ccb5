// CPU facts that decide which kernels peftmake can use: model name, logical cores and the SIMD / matrix flags
// (AVX2, AVX-512, AVX512-BF16, AMX) parsed from /proc/cpuinfo text.
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/** The flags that change which matmul kernels run (oneDNN picks AVX512-BF16 or AMX bf16 kernels at run time). */
export const KEY_CPU_FLAGS = ['avx2', 'avx512f', 'avx512_bf16', 'amx_bf16', 'amx_tile'] as const;
export type KeyCpuFlag = (typeof KEY_CPU_FLAGS)[number];

export interface CpuFacts {
  model: string;
  logicalCores: number;
  /** Each key flag: present on every processor listed (false when /proc/cpuinfo could not be read). */
  flags: Record<KeyCpuFlag, boolean>;
  /** The key flags present, in KEY_CPU_FLAGS order (the same list the PyTorch peer prints as cpu_flags). */
  present: KeyCpuFlag[];
  source: 'proc-cpuinfo' | 'os.cpus';
}

/** Parses /proc/cpuinfo text (x86 `flags` lines, or `Features` on arm64). A flag counts only when every
 * processor block lists it, so a heterogeneous machine does not claim a flag some cores lack. */
export function parseCpuInfo(text: string): Omit<CpuFacts, 'source'> {
  let model = '';
  let processors = 0;
  let common: Set<string> | undefined;
  for (const raw of text.split('\n')) {
    const colon = raw.indexOf(':');
    if (colon < 0) continue;
    const key = raw.slice(0, colon).trim();
    const value = raw.slice(colon + 1).trim();
    if (key === 'processor') processors++;
    else if ((key === 'model name' || key === 'Model' || key === 'cpu model') && !model) model = value;
    else if (key === 'flags' || key === 'Features') {
      const set = new Set(value.split(/\s+/).filter(Boolean));
      common = common ? new Set([...common].filter((f) => set.has(f))) : set;
    }
  }
  const flags = Object.fromEntries(KEY_CPU_FLAGS.map((f) => [f, common?.has(f) ?? false])) as Record<KeyCpuFlag, boolean>;
  return { model: model || 'unknown', logicalCores: processors, flags, present: KEY_CPU_FLAGS.filter((f) => flags[f]) };
}

/** This machine's CPU facts: /proc/cpuinfo where it exists, else Node's os.cpus() (no flags there). */
export function readCpuFacts(cpuinfoPath = '/proc/cpuinfo'): CpuFacts {
  let text: string | undefined;
  try {
    text = readFileSync(cpuinfoPath, 'utf8');
  } catch {
    text = undefined;
  }
  const os = cpus();
  if (text !== undefined) {
    const p = parseCpuInfo(text);
    return { ...p, model: p.model === 'unknown' ? (os[0]?.model ?? 'unknown') : p.model, logicalCores: p.logicalCores || os.length, source: 'proc-cpuinfo' };
  }
  const flags = Object.fromEntries(KEY_CPU_FLAGS.map((f) => [f, false])) as Record<KeyCpuFlag, boolean>;
  return { model: os[0]?.model ?? 'unknown', logicalCores: os.length, flags, present: [], source: 'os.cpus' };
}

/** The matmul tier the CPU offers for bf16: AMX tiles, AVX512-BF16 dot products, or none (fp32 only). */
export function bf16Tier(flags: Record<KeyCpuFlag, boolean>): 'amx' | 'avx512_bf16' | 'none' {
  if (flags.amx_bf16 && flags.amx_tile) return 'amx';
  if (flags.avx512_bf16) return 'avx512_bf16';
  return 'none';
}
