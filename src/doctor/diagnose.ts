// Judges doctor facts: one line per check with ✓ (fine) / ! (a problem, with the command that fixes it) /
// · (information), and the compute mode `auto` resolves to. Pure: no I/O, so tests can feed any machine.
import { bf16Tier } from './cpu.ts';
import type { DoctorFacts } from './facts.ts';

export type CheckStatus = 'ok' | 'warn' | 'info';

export interface Check {
  id: string;
  label: string;
  value: string;
  status: CheckStatus;
  /** For a problem: the command or change that fixes it. */
  fix?: string;
  /** For information: what it means. */
  note?: string;
}

/** The compute mode `compute: "auto"` picks: bf16 exactly when the kernels have native bf16 matmul (the rule in
 * src/engine/model.ts), and why. */
export function autoComputeMode(f: Pick<DoctorFacts, 'kernels' | 'cpu'>): { mode: 'bf16' | 'fp32'; reason: string } {
  if (!f.kernels) return { mode: 'fp32', reason: 'native addon not loaded' };
  if (f.kernels.bf16Native) return { mode: 'bf16', reason: `bf16 matmul runs natively (${f.kernels.bf16Impl})` };
  if (f.kernels.bf16Library === 'none') return { mode: 'fp32', reason: 'addon built without oneDNN' };
  // native bf16 is off on a forced avx2 / scalar kernel path (PEFT_ISA), as on a CPU without it
  if (f.kernels.isa && f.kernels.isa !== 'avx512' && (f.cpu.flags.avx512_bf16 || f.cpu.flags.amx_bf16))
    return { mode: 'fp32', reason: `the kernels run the ${f.kernels.isa} path (PEFT_ISA): no native bf16 there` };
  return { mode: 'fp32', reason: 'the CPU has no AVX512-BF16 / AMX' };
}

/** `a >= b` for dotted numeric versions ("20.19.1" vs "20.19"). */
export function versionAtLeast(a: string, b: string): boolean {
  const pa = a.replace(/^v/, '').split('.').map(Number);
  const pb = b
    .replace(/^[>=v\s]+/, '')
    .split('.')
    .map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? 0,
      y = pb[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

const mb = (n: number): string => (n >= 1024 ? `${(n / 1024).toFixed(1)} GB` : `${Math.round(n)} MB`);

/** Byte count in B / KB / MB / GB (1024-based), for sizes from empty stores to large ones. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

export function diagnose(f: DoctorFacts): Check[] {
  const out: Check[] = [];
  const add = (c: Check): void => void out.push(c);

  const nodeOk = versionAtLeast(f.node.version, f.node.required);
  add({
    id: 'node',
    label: 'Node.js',
    value: `${f.node.version} (needs ${f.node.required})`,
    status: nodeOk ? 'ok' : 'warn',
    fix: nodeOk ? undefined : `install Node.js ${f.node.required} (e.g. nvm install 20)`,
  });
  add({ id: 'cpu', label: 'CPU', value: `${f.cpu.model}, ${f.cpu.logicalCores} logical cores`, status: 'info' });

  const tier = bf16Tier(f.cpu.flags);
  const flagText = f.cpu.present.length ? f.cpu.present.join(' ') : 'none of avx2 avx512f avx512_bf16 amx_bf16 amx_tile';
  const tierText = tier === 'amx' ? 'AMX bf16 tiles' : tier === 'avx512_bf16' ? 'AVX512-BF16, no AMX' : 'no native bf16 matmul';
  add({
    id: 'cpu_flags',
    label: 'CPU flags',
    value: `${flagText} (${tierText})`,
    status: f.cpu.flags.avx2 || f.cpu.source !== 'proc-cpuinfo' ? 'info' : 'warn',
    fix: f.cpu.flags.avx2 || f.cpu.source !== 'proc-cpuinfo' ? undefined : 'no AVX2: the kernels fall back to scalar code; training will be slow on this CPU',
  });

  const memStatus: CheckStatus = f.memory.availableMb < 2048 ? 'warn' : 'info';
  add({
    id: 'memory',
    label: 'memory',
    value: `${mb(f.memory.availableMb)} available of ${mb(f.memory.totalMb)}`,
    status: memStatus,
    fix: memStatus === 'warn' ? 'under 2 GB free: use quant "nf4" and a smaller batch or sequence length' : undefined,
  });
  const busy = f.loadavg[0] > f.cpu.logicalCores * 0.75;
  add({
    id: 'load',
    label: 'load average',
    value: f.loadavg.join(' '),
    status: busy ? 'warn' : 'info',
    fix: busy
      ? `the machine is busy (1-min load ${f.loadavg[0]} on ${f.cpu.logicalCores} cores): training and benchmark figures will be low until it quiets down`
      : undefined,
  });

  if (!f.addon.loaded || !f.kernels) {
    add({
      id: 'addon',
      label: 'native addon',
      value: `not loaded: ${f.addon.error ?? 'unknown reason'}`,
      status: 'warn',
      fix: 'npm run build:native (needs g++ >= 9, make, python3)',
    });
  } else {
    const k = f.kernels;
    add({ id: 'addon', label: 'native addon', value: `loaded (engine ${f.addon.version ?? '?'}) ${f.addon.path}`, status: 'ok' });
    const relinkOpenblas = Boolean(f.detected?.openblas) && !k.openblasLinked;
    add({
      id: 'sgemm',
      label: 'sgemm',
      value: `${k.sgemmLibrary}${k.openblasLinked ? ' (OpenBLAS linked)' : ' (built without OpenBLAS)'}`,
      status: relinkOpenblas ? 'warn' : 'ok',
      fix: relinkOpenblas ? 'OpenBLAS is installed now but the addon was built without it: npm run build:native' : undefined,
      note: !k.openblasLinked && !relinkOpenblas ? 'optional: apt-get install -y libopenblas-dev && npm run build:native' : undefined,
    });
    const built = k.bf16Library !== 'none';
    let bf16Fix: string | undefined;
    if (!built && f.detected?.dnnl) bf16Fix = 'oneDNN is installed now but the addon was built without it: npm run build:native';
    else if (!built && tier !== 'none') bf16Fix = 'the CPU has native bf16 but oneDNN is missing: apt-get install -y libdnnl-dev && npm run build:native';
    add({
      id: 'bf16',
      label: 'bf16 matmul',
      value: built
        ? `${k.bf16Library}, ${k.bf16Native ? `native (${k.bf16KernelForModel ?? k.bf16Impl})` : 'no bf16 ISA on this CPU: fp32 fallback'}`
        : 'built without oneDNN: fp32 fallback',
      status: bf16Fix ? 'warn' : 'ok',
      fix: bf16Fix,
    });
    if (k.isaError)
      add({
        id: 'isa',
        label: 'kernel ISA',
        value: `refused: ${k.isaError}`,
        status: 'warn',
        fix: 'set PEFT_ISA to one of the listed ISAs, or unset it to pick the best one',
      });
    else if (k.isa)
      add({
        id: 'isa',
        label: 'kernel ISA',
        value: `${k.isa} (CPU can run: ${k.isaCpu}; built: ${k.isaBuilt})`,
        status: k.isa === 'scalar' ? 'warn' : 'ok',
        fix: k.isa === 'scalar' ? 'decode kernels run scalar: unset PEFT_ISA, or use a CPU with AVX2' : undefined,
      });
    const threadsLow = k.threads < f.cpu.logicalCores;
    add({
      id: 'threads',
      label: 'kernel threads',
      value: `${k.threads} of ${f.cpu.logicalCores} cores`,
      status: 'info',
      note: threadsLow ? 'fewer threads than cores (set by the engine or BENCH_THREADS); fine on a shared machine' : undefined,
    });
  }
  const auto = autoComputeMode(f);
  add({ id: 'compute', label: 'compute "auto"', value: `${auto.mode} (${auto.reason})`, status: 'info' });
  if (f.detected)
    add({
      id: 'build_libs',
      label: 'libraries found now',
      value: `OpenBLAS ${f.detected.openblas ? 'yes' : 'no'}, oneDNN ${f.detected.dnnl ? 'yes' : 'no'} (native/detect.mjs)`,
      status: 'info',
    });
  else
    add({
      id: 'build_libs',
      label: 'libraries found now',
      value: `unknown: ${f.detectError ?? 'native/detect.mjs did not run'}`,
      status: 'warn',
      fix: 'node native/detect.mjs report',
    });

  add({ id: 'hf_home', label: 'HF_HOME', value: f.hf.home ?? 'not set', status: 'info' });
  add({ id: 'hf_cache', label: 'hub cache', value: f.hf.hubCache, status: 'info' });
  add({
    id: 'hf_token',
    label: 'HF token',
    value: f.hf.tokenVar ? `set in ${f.hf.tokenVar} (hidden)` : 'not set (public models only)',
    status: 'info',
    note: f.hf.tokenVar ? undefined : 'gated or private models need HF_TOKEN=hf_... (https://huggingface.co/settings/tokens)',
  });
  add({ id: 'hf_offline', label: 'HF_HUB_OFFLINE', value: f.hf.offline ? 'on: builds use the hub cache only' : 'off', status: 'info' });
  if (f.hf.endpoint) add({ id: 'hf_endpoint', label: 'HF_ENDPOINT', value: f.hf.endpoint, status: 'info' });

  if (f.slurm) add(slurmCheck(f.slurm));

  if (f.project) {
    const p = f.project;
    add({
      id: 'store',
      label: 'artifact store',
      value: p.exists ? `${formatBytes(p.bytes)} in ${p.objects} artifact(s) at ${p.store}` : `none yet (${p.pipeline}; peftmake build creates it)`,
      status: 'info',
    });
  }
  return out;
}

/** Whether the `slurm` executor can submit from here: sinfo answers, with the partitions it lists. */
export function slurmCheck(s: NonNullable<DoctorFacts['slurm']>): Check {
  const label = 'Slurm';
  if (!s.installed)
    return {
      id: 'slurm',
      label,
      value: 'not installed here (no sinfo)',
      status: 'info',
      note: 'only needed for `executor: {"kind": "slurm"}` (docs/cluster.md)',
    };
  if (s.error)
    return {
      id: 'slurm',
      label,
      value: `installed, not reachable: ${s.error}`,
      status: 'info',
      note: `for \`executor: {"kind": "slurm"}\`: slurmctld must run and ${s.conf ? `SLURM_CONF (${s.conf})` : 'slurm.conf'} name it; \`sinfo\` must answer from this machine`,
    };
  const parts = s.partitions ?? [];
  if (!parts.length)
    return {
      id: 'slurm',
      label,
      value: 'reachable, but sinfo lists no partition',
      status: 'warn',
      fix: 'ask the cluster admins which partition to use (`executor.partition`)',
    };
  const text = parts
    .map((p) => `${p.name}${p.default ? '*' : ''} (${p.available}, ${p.nodes} node${p.nodes === 1 ? '' : 's'} ${p.states}, limit ${p.timeLimit})`)
    .join(', ');
  return { id: 'slurm', label, value: `reachable; partitions: ${text}`, status: 'ok', note: '* marks the default partition' };
}

/** True when no check is a problem. */
export function allOk(checks: Check[]): boolean {
  return checks.every((c) => c.status !== 'warn');
}
