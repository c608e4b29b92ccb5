// Shared bench helpers: JSON line printing, CPU flags, peak RSS, load average, and how busy the rest of the
// machine was during a timed window (the same /proc/stat measure the PyTorch peer reports as other_procs_cpu_frac).
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { readCpuFacts, type KeyCpuFlag } from '../../src/doctor/cpu.ts';

/** Prints one JSON line on stdout (bench/run.ts forwards stdout lines that parse as JSON). */
export function emitJson(o: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

/** The key CPU flags present (avx2, avx512f, avx512_bf16, amx_bf16, amx_tile), as the peer prints them. */
export function cpuFlags(): KeyCpuFlag[] {
  return readCpuFacts().present;
}

/** Peak resident set size of this process so far, in MiB. */
export function peakRssMb(): number {
  return round(process.resourceUsage().maxRSS / 1024, 1);
}

/** 1, 5 and 15 minute load averages. */
export function loadAverage(): [number, number, number] {
  const [a, b, c] = loadavg();
  return [round(a, 2), round(b, 2), round(c, 2)];
}

export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

interface CpuSnapshot {
  machineBusyS: number;
  ownCpuS: number;
  wallS: number;
  cores: number;
}

function snapshot(): CpuSnapshot {
  let busy = Number.NaN;
  let cores = 1;
  try {
    const lines = readFileSync('/proc/stat', 'utf8').split('\n');
    const v = lines[0].split(/\s+/).slice(1, 9).map(Number);
    busy = (v.reduce((a, b) => a + b, 0) - v[3] - v[4]) / 100; // USER_HZ is 100 on Linux
    cores = lines.filter((l) => /^cpu\d+ /.test(l)).length || 1;
  } catch {
    // no /proc/stat (not Linux): the fraction is NaN and printed as null
  }
  const u = process.cpuUsage();
  return { machineBusyS: busy, ownCpuS: (u.user + u.system) / 1e6, wallS: performance.now() / 1000, cores };
}

/** Starts a window; the returned function gives the fraction of all cores that OTHER processes kept busy since
 * then (0 = idle machine; above ~0.05 a timing is suspect). `childCpuS` is CPU time of children measured
 * separately (they count as ours, not as other processes). */
export function otherProcsCpuWindow(): (childCpuS?: number) => number | null {
  const s0 = snapshot();
  return (childCpuS = 0) => {
    const s1 = snapshot();
    const other = s1.machineBusyS - s0.machineBusyS - (s1.ownCpuS - s0.ownCpuS) - childCpuS;
    const frac = Math.max(0, other) / ((s1.wallS - s0.wallS) * s1.cores);
    return Number.isFinite(frac) ? round(frac, 3) : null;
  };
}
