// Training checkpoints as one atomic unit: a folder step-<n>/ built under a temp name (every file fsynced, then
// checkpoint.json with the step, the stage key and each file's size + sha256, written last), renamed into place, and
// only then are older ones pruned. Resume takes the newest checkpoint that is whole and matches the key; any other is
// discarded with the reason (a kill or a full disk mid-write can never yield a mix of two steps).
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { faultPoint } from '../util/fault.ts';

export const CHECKPOINT_MANIFEST = 'checkpoint.json';
const STEP_DIR = /^step-(\d+)$/;

export interface CheckpointManifest {
  step: number;
  key: string;
  files: { path: string; size: number; sha256: string }[];
}

export interface FoundCheckpoint {
  dir: string;
  manifest: CheckpointManifest;
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function filesOf(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...filesOf(join(dir, e.name), rel));
    else if (rel !== CHECKPOINT_MANIFEST) out.push(rel);
  }
  return out;
}

/**
 * Writes one checkpoint: `write(dir)` fills a fresh temp folder; then every file is fsynced and hashed, the manifest
 * goes in last, and the folder is renamed to step-<n>. Older checkpoints and stray temp folders are removed after.
 */
export async function writeCheckpoint(root: string, meta: { step: number; key: string }, write: (dir: string) => Promise<void>): Promise<string> {
  mkdirSync(root, { recursive: true });
  const tmp = join(root, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(tmp);
  try {
    await write(tmp);
    const files = filesOf(tmp).map((path) => {
      const abs = join(tmp, path);
      fsyncPath(abs);
      return { path, size: statSync(abs).size, sha256: sha256File(abs) };
    });
    const manifest: CheckpointManifest = { step: meta.step, key: meta.key, files };
    faultPoint('checkpoint.manifest', join(tmp, CHECKPOINT_MANIFEST));
    writeFileSync(join(tmp, CHECKPOINT_MANIFEST), JSON.stringify(manifest, null, 1) + '\n');
    fsyncPath(join(tmp, CHECKPOINT_MANIFEST));
    fsyncPath(tmp);
    faultPoint('checkpoint.rename', tmp);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  const final = join(root, `step-${String(meta.step).padStart(8, '0')}`);
  rmSync(final, { recursive: true, force: true }); // the same step written again (a resumed run): replace it
  renameSync(tmp, final);
  fsyncPath(root);
  faultPoint('checkpoint.prune', root);
  for (const name of readdirSync(root)) if (join(root, name) !== final) rmSync(join(root, name), { recursive: true, force: true });
  return final;
}

/** Why a checkpoint folder cannot be resumed from, or undefined when it is whole and belongs to `key`. */
export function checkpointProblem(dir: string, key: string): string | undefined {
  let m: CheckpointManifest;
  try {
    m = JSON.parse(readFileSync(join(dir, CHECKPOINT_MANIFEST), 'utf8')) as CheckpointManifest;
  } catch {
    return existsSync(join(dir, CHECKPOINT_MANIFEST)) ? `${CHECKPOINT_MANIFEST} is not valid JSON` : `no ${CHECKPOINT_MANIFEST} (an incomplete write)`;
  }
  if (m.key !== key) return `it belongs to key ${String(m.key).slice(0, 12)}, not ${key.slice(0, 12)}`;
  if (!Array.isArray(m.files) || !Number.isInteger(m.step)) return `${CHECKPOINT_MANIFEST} lacks step or files`;
  for (const f of m.files) {
    const abs = join(dir, f.path);
    if (!existsSync(abs)) return `${f.path} is missing`;
    if (statSync(abs).size !== f.size) return `${f.path} has ${statSync(abs).size} bytes, expected ${f.size}`;
    if (sha256File(abs) !== f.sha256) return `${f.path} does not match its recorded sha256`;
  }
  return undefined;
}

/**
 * The newest whole checkpoint of `key` under `root`; every folder that is not (torn, half-deleted, another key, a
 * stray temp folder) is removed, and its reason returned so the caller can say why it restarts.
 */
export function latestCheckpoint(root: string, key: string): { found?: FoundCheckpoint; discarded: string[] } {
  const discarded: string[] = [];
  if (!existsSync(root)) return { discarded };
  const names = readdirSync(root);
  const steps = names
    .filter((n) => STEP_DIR.test(n))
    .sort()
    .reverse();
  let found: FoundCheckpoint | undefined;
  for (const n of steps) {
    const dir = join(root, n);
    if (found) {
      rmSync(dir, { recursive: true, force: true });
      continue;
    }
    const problem = checkpointProblem(dir, key);
    if (problem) {
      discarded.push(`${n}: ${problem}`);
      rmSync(dir, { recursive: true, force: true });
    } else found = { dir, manifest: JSON.parse(readFileSync(join(dir, CHECKPOINT_MANIFEST), 'utf8')) as CheckpointManifest };
  }
  for (const n of names.filter((x) => !STEP_DIR.test(x))) {
    discarded.push(`${n}: an unfinished checkpoint write`);
    rmSync(join(root, n), { recursive: true, force: true });
  }
  return { found, discarded };
}
