// Shared scaffolding of the fault-injection suite: a tiny real project (stories260K copied in, a few markdown notes,
// one LoRA adapter of a few steps), the real CLI run with PEFTMAKE_FAULT, and the three checks every case makes:
// fresh stages byte-identical to a clean build of the same key, nothing outside the project changed, a clear message.
import { createHash } from 'node:crypto';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(ROOT, 'bin', 'peftmake.js');
export const NO_ADDON = existsSync(join(ROOT, 'native', 'build', 'Release', 'peft_engine.node')) ? '' : 'native addon not built (npm run build:native)';

export const TRAIN = {
  quant: 'none',
  compute: 'fp32',
  lora: { r: 2, alpha: 4, dropout: 0, targets: ['q_proj', 'v_proj'] },
  lr: 0.003,
  warmup: 1,
  batchSize: 2,
  seqLen: 32,
};

/** A pipeline over the copied model: one text dataset and one adapter checkpointing every 2 of 6 steps. */
export function adapterPipeline(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    models: { base: { path: 'models/tiny' } },
    datasets: { notes: { model: 'base', source: { files: ['notes/*.md'] }, format: 'text', seqLen: 32, split: { valid: 0.2, seed: 1 } } },
    adapters: { domain: { base: 'base', data: 'notes', maxSteps: 6, checkpointEvery: 2, evalEvery: 2, ...TRAIN } },
    ...extra,
  };
}

const NOTE = (i: number) =>
  `# Note ${i}\n\n` +
  Array.from(
    { length: 6 },
    (_, j) => `Once upon a time a little ${['cat', 'dog', 'bird', 'fox'][(i + j) % 4]} went to the ${['park', 'sea', 'hill'][(i * j) % 3]} and played all day.`,
  ).join(' ') +
  '\n';

/** A test world: root/project (the project) and root/outside (files a correct build never touches). */
export class World {
  readonly root: string;
  readonly dir: string;
  readonly outside: string;
  constructor(pipeline: Record<string, unknown> = adapterPipeline()) {
    this.root = mkdtempSync(join(tmpdir(), 'peftmake-faults-'));
    this.dir = join(this.root, 'project');
    this.outside = join(this.root, 'outside');
    mkdirSync(this.outside, { recursive: true });
    writeFileSync(join(this.outside, 'keep.txt'), 'outside the project\n');
    mkdirSync(join(this.dir, 'notes'), { recursive: true });
    cpSync(join(ROOT, 'models', 'stories260K'), join(this.dir, 'models', 'tiny'), { recursive: true });
    for (let i = 0; i < 6; i++) writeFileSync(join(this.dir, 'notes', `n${i}.md`), NOTE(i));
    this.pipeline(pipeline);
  }
  pipeline(p: Record<string, unknown>): void {
    writeFileSync(join(this.dir, 'pipeline.json'), JSON.stringify(p, null, 2) + '\n');
  }
  path(rel: string): string {
    return join(this.dir, rel);
  }
  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

export interface Run {
  code: number | undefined;
  signal: string | undefined;
  stdout: string;
  stderr: string;
  json?: { ok: boolean; stages: { name: string; action: string; key: string; version: number | null; error?: string }[] };
}

/** The real CLI in `cwd`, with an optional fault spec; never throws. */
export async function peftmake(cwd: string, args: string[], opts: { fault?: string; env?: Record<string, string>; timeout?: number } = {}): Promise<Run> {
  const r = await execa(process.execPath, [CLI, ...args], {
    cwd,
    reject: false,
    timeout: opts.timeout ?? 60_000,
    env: { FORCE_COLOR: '0', ...(opts.fault ? { PEFTMAKE_FAULT: opts.fault } : {}), ...opts.env },
  });
  const out: Run = { code: r.exitCode, signal: r.signal ?? undefined, stdout: String(r.stdout), stderr: String(r.stderr) };
  if (args.includes('--json'))
    try {
      out.json = JSON.parse(out.stdout);
    } catch {
      // killed before it printed
    }
  return out;
}

export function actions(r: Run): Record<string, string> {
  return Object.fromEntries((r.json?.stages ?? []).map((s) => [s.name, s.action]));
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** Files of a tree, relative path -> sha256 (symlinks as `-> target`). */
export function treeHashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (lstatSync(p).isSymbolicLink()) out[relative(dir, p)] = `-> ${readlinkSync(p)}`;
      else if (e.isDirectory()) walk(p);
      else out[relative(dir, p)] = sha(readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

/** Files of a committed artifact that carry timings (compared with the timing fields dropped, or not at all). */
const TIMED = new Set(['manifest.json', 'metrics.json']);

/** What must be byte-identical between two builds of one key: every file, with timing fields of the logs dropped. */
export function artifactContent(objectDir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [rel, h] of Object.entries(treeHashes(objectDir))) {
    if (TIMED.has(rel)) continue;
    if (rel.endsWith('train_log.jsonl')) {
      const lines = readFileSync(join(objectDir, rel), 'utf8').trim().split('\n').filter(Boolean);
      out[rel] = sha(
        lines
          .map((l) => {
            const { seconds: _s, ...rest } = JSON.parse(l);
            return JSON.stringify(rest);
          })
          .join('\n'),
      );
    } else out[rel] = h;
  }
  return out;
}

/** Current key of each stage with a ref. */
export function currentKeys(dir: string): Record<string, string> {
  const refs = join(dir, 'artifacts', 'refs');
  if (!existsSync(refs)) return {};
  const out: Record<string, string> = {};
  for (const f of readdirSync(refs).filter((x) => x.endsWith('.json'))) {
    const ref = JSON.parse(readFileSync(join(refs, f), 'utf8'));
    out[ref.stage] = ref.versions.find((v: { version: number }) => v.version === ref.current).key;
  }
  return out;
}

/** Content of every stage's current artifact, by stage name: for comparing a faulted project with a clean one. */
export function storeContent(dir: string): Record<string, Record<string, string>> {
  return Object.fromEntries(Object.entries(currentKeys(dir)).map(([s, k]) => [s, artifactContent(join(dir, 'artifacts', 'objects', k))]));
}

/** A clean build of the default world, built once per process and reused as the reference. */
let reference: Promise<{ keys: Record<string, string>; content: Record<string, Record<string, string>> }> | undefined;
export function cleanReference(): Promise<{ keys: Record<string, string>; content: Record<string, Record<string, string>> }> {
  reference ??= (async () => {
    const w = new World();
    try {
      const r = await peftmake(w.dir, ['build', '--json']);
      if (r.code !== 0) throw new Error(`clean reference build failed: ${r.stderr}`);
      return { keys: currentKeys(w.dir), content: storeContent(w.dir) };
    } finally {
      w.cleanup();
    }
  })();
  return reference;
}
