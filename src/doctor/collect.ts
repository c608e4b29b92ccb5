// Gathers the facts `peftmake doctor` judges: Node, CPU, memory, load, the native addon and its kernels'
// backend, the optional libraries native/detect.mjs finds, Hugging Face settings (never the token) and the store.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { freemem, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hubCacheDir } from '../hub/cache-layout.ts';
import { StoreLayout } from '../store/layout.ts';
import { readCpuFacts } from './cpu.ts';
import { parsePartitions, SINFO_ARGS } from '../slurm/commands.ts';
import type { DoctorFacts, KernelsInfo } from './facts.ts';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ADDON_FILE = join(REPO_ROOT, 'native', 'build', 'Release', 'peft_engine.node');

interface Addon {
  engineVersion?: () => string;
  kernels?: { backendInfo(): KernelsInfo; gemmBf16Impl(g: object): string };
}

function loadAddon(path: string): { addon?: Addon; error?: string } {
  if (!existsSync(path)) return { error: `${path} is missing (the native engine is not built)` };
  try {
    return { addon: requireAddon(path) };
  } catch (e) {
    return { error: (e as Error).message.split('\n')[0] };
  }
}

function requireAddon(path: string): Addon {
  return createRequire(import.meta.url)(path) as Addon;
}

/** Available memory: MemAvailable from /proc/meminfo (what can be allocated without swapping), else os.freemem. */
function availableMb(): number {
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (m) return Number(m[1]) / 1024;
  } catch {
    // not Linux
  }
  return freemem() / 2 ** 20;
}

function detectLibraries(): { detected?: { openblas: boolean; dnnl: boolean }; detectError?: string } {
  const script = join(REPO_ROOT, 'native', 'detect.mjs');
  const r = spawnSync(process.execPath, [script, 'report'], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) return { detectError: (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n')[0] };
  try {
    const j = JSON.parse(r.stdout) as { openblas: boolean; dnnl: boolean };
    return { detected: { openblas: Boolean(j.openblas), dnnl: Boolean(j.dnnl) } };
  } catch {
    return { detectError: `unexpected output: ${r.stdout.trim().slice(0, 80)}` };
  }
}

/** Total bytes and artifact count under the store (symlinks counted as links, never followed). */
export function storeSize(root: string): { bytes: number; objects: number } {
  let bytes = 0;
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else bytes += lstatSync(p).size;
    }
  };
  walk(root);
  const objectsDir = join(root, 'objects');
  const objects = existsSync(objectsDir) ? readdirSync(objectsDir).length : 0;
  return { bytes, objects };
}

function requiredNode(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { engines?: { node?: string } };
    return pkg.engines?.node ?? '>=20';
  } catch {
    return '>=20';
  }
}

/** Whether Slurm answers from here (`sinfo`), and its partitions. */
export function slurmFacts(env: NodeJS.ProcessEnv): DoctorFacts['slurm'] {
  const r = spawnSync('sinfo', SINFO_ARGS, { encoding: 'utf8', timeout: 15_000, env });
  const conf = env.SLURM_CONF || undefined;
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return { installed: false };
  if (r.status !== 0) return { installed: true, conf, error: (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').slice(-2).join('; ') };
  return { installed: true, conf, partitions: parsePartitions(r.stdout) };
}

export interface CollectOptions {
  env?: NodeJS.ProcessEnv;
  /** pipeline.json to look for; its directory's artifacts/ is the store. */
  pipeline?: string;
  addonPath?: string;
}

export function collectFacts(opts: CollectOptions = {}): DoctorFacts {
  const env = opts.env ?? process.env;
  const addonPath = opts.addonPath ?? ADDON_FILE;
  const { addon, error } = loadAddon(addonPath);
  let kernels: DoctorFacts['kernels'];
  let addonError = error;
  if (addon && !addon.kernels) addonError = 'the addon has no kernels binding (rebuild it)';
  else if (addon?.kernels) {
    const info = addon.kernels.backendInfo();
    let bf16KernelForModel: string | undefined;
    try {
      // the forward matmul of a SmolLM2-135M gate/up projection over 2,048 tokens
      bf16KernelForModel = addon.kernels.gemmBf16Impl({ transA: false, transB: true, M: 2048, N: 1536, K: 576 });
    } catch {
      bf16KernelForModel = undefined;
    }
    kernels = {
      backend: info.backend,
      threads: info.threads,
      bf16Native: info.bf16Native,
      bf16Impl: info.bf16Impl,
      bf16Library: info.bf16Library,
      sgemmLibrary: info.sgemmLibrary,
      openblasLinked: info.openblasLinked,
      isa: info.isa,
      isaCpu: info.isaCpu,
      isaBuilt: info.isaBuilt,
      isaError: info.isaError,
      bf16KernelForModel,
    };
  }
  const tokenVar = env.HF_TOKEN ? 'HF_TOKEN' : env.HUGGING_FACE_HUB_TOKEN ? 'HUGGING_FACE_HUB_TOKEN' : undefined;
  let project: DoctorFacts['project'];
  const pipeline = resolve(opts.pipeline ?? 'pipeline.json');
  if (existsSync(pipeline)) {
    const store = new StoreLayout(dirname(pipeline)).root;
    const exists = existsSync(store);
    project = { pipeline, store, exists, ...(exists ? storeSize(store) : { bytes: 0, objects: 0 }) };
  }
  const [l1, l5, l15] = loadavg();
  return {
    node: { version: process.version, required: requiredNode() },
    platform: `${process.platform}-${process.arch}`,
    cpu: readCpuFacts(),
    memory: { totalMb: Math.round(totalmem() / 2 ** 20), availableMb: Math.round(availableMb()) },
    loadavg: [+l1.toFixed(2), +l5.toFixed(2), +l15.toFixed(2)],
    addon: { path: addonPath, loaded: Boolean(kernels), error: kernels ? undefined : addonError, version: addon?.engineVersion?.() },
    kernels,
    ...detectLibraries(),
    hf: {
      home: env.HF_HOME || undefined,
      hubCache: hubCacheDir(env),
      endpoint: env.HF_ENDPOINT || undefined,
      tokenVar,
      offline: ['1', 'true', 'yes', 'on'].includes(String(env.HF_HUB_OFFLINE ?? '').toLowerCase()),
    },
    project,
    slurm: slurmFacts(env),
  };
}
