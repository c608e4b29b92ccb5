// The facts `peftmake doctor` reports, as plain data: gathered by collect.ts, judged by diagnose.ts, so the
// judging is a pure function tests can feed any machine.
import type { CpuFacts } from './cpu.ts';
import type { Partition } from '../slurm/commands.ts';

/** What the addon's `kernels.backendInfo()` returns (native/src/binding/kernel_info.cc). */
export interface KernelsInfo {
  backend: string;
  threads: number;
  bf16Native: boolean;
  bf16Impl: string;
  bf16Library: string; // "onednn-2.6.3/omp", or "none" when built without oneDNN
  sgemmLibrary: string; // "openblas" | "builtin", prefixed "onednn+" where oneDNN takes the untransposed-A products
  openblasLinked: boolean;
  /** The decode kernels' ISA (avx512 | avx2 | scalar; PEFT_ISA forces one), what the CPU / build can run, or the
   * error a bad PEFT_ISA gives (absent in addons older than the ISA dispatch). */
  isa?: string;
  isaCpu?: string;
  isaBuilt?: string;
  isaError?: string;
}

export interface DoctorFacts {
  node: { version: string; required: string };
  platform: string;
  cpu: CpuFacts;
  memory: { totalMb: number; availableMb: number };
  loadavg: [number, number, number];
  addon: { path: string; loaded: boolean; error?: string; version?: string };
  kernels?: KernelsInfo & {
    /** The kernel oneDNN picks for a training-shaped bf16 matmul (2048 tokens × 576 → 1536). */
    bf16KernelForModel?: string;
  };
  /** What native/detect.mjs finds on this machine now (the build links what it found at build time). */
  detected?: { openblas: boolean; dnnl: boolean };
  detectError?: string;
  hf: {
    home?: string;
    hubCache: string;
    endpoint?: string;
    /** Which variable holds a token (the token itself is never kept here). */
    tokenVar?: 'HF_TOKEN' | 'HUGGING_FACE_HUB_TOKEN';
    offline: boolean;
  };
  project?: { pipeline: string; store: string; exists: boolean; bytes: number; objects: number };
  /** Slurm as `sinfo` sees it from here: absent (no client commands), unreachable (error), or its partitions. */
  slurm?: { installed: boolean; error?: string; partitions?: Partition[]; conf?: string };
}
