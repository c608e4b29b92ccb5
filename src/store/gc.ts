// Garbage collection: keeps the newest N versions of each stage and never deletes a current, pinned or
// referenced (an upstream of a kept artifact) version; removes unreferenced objects and stale resume dirs.
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { StoreLayout } from './layout.ts';
import { listRefs } from './refs.ts';
import { readManifest } from './objects.ts';

export interface GcResult {
  kept: number;
  removed: string[]; // keys
  bytesFreed: number;
  /** Resume folders (`<stage>/<key>`) removed: no build would resume from them. */
  resumeRemoved: string[];
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function dirSize(p: string): number {
  let total = 0;
  for (const e of readdirSync(p, { withFileTypes: true })) {
    const q = join(p, e.name);
    total += e.isDirectory() ? dirSize(q) : e.isFile() ? statSync(q).size : 0;
  }
  return total;
}

/**
 * `liveResume`: the `<stage>/<key>` resume folders a build would resume from now (the keys the plan would build);
 * every other resume folder is abandoned and removed. Without it, only those of keys already committed go.
 */
export function collectGarbage(layout: StoreLayout, keep: number, dryRun = false, liveResume?: ReadonlySet<string>): GcResult {
  const live = new Set<string>();
  for (const ref of listRefs(layout)) {
    const newest = [...ref.versions].sort((a, b) => b.version - a.version).slice(0, Math.max(0, keep));
    for (const v of newest) live.add(v.key);
    const cur = ref.versions.find((v) => v.version === ref.current);
    if (cur) live.add(cur.key);
  }
  // Anything a kept artifact was built from stays too.
  const queue = [...live];
  while (queue.length) {
    const m = readManifest(layout, queue.pop()!);
    for (const k of Object.values(m?.upstream ?? {}))
      if (!live.has(k)) {
        live.add(k);
        queue.push(k);
      }
  }
  let keys: string[] = [];
  try {
    keys = readdirSync(layout.objects);
  } catch {
    // empty store
  }
  const removed: string[] = [];
  let bytesFreed = 0;
  for (const k of keys) {
    if (live.has(k)) continue;
    bytesFreed += dirSize(layout.object(k));
    if (!dryRun) rmSync(layout.object(k), { recursive: true, force: true });
    removed.push(k);
  }
  const resumeRemoved: string[] = [];
  for (const stage of list(join(layout.root, 'resume'))) {
    for (const key of list(layout.resumeRoot(stage))) {
      const id = `${stage}/${key}`;
      const abandoned = liveResume ? !liveResume.has(id) : existsSync(layout.manifest(key));
      if (!abandoned) continue;
      bytesFreed += dirSize(layout.resume(stage, key));
      if (!dryRun) rmSync(layout.resume(stage, key), { recursive: true, force: true });
      resumeRemoved.push(id);
    }
    if (!dryRun && list(layout.resumeRoot(stage)).length === 0) rmSync(layout.resumeRoot(stage), { recursive: true, force: true });
  }
  // Version records stay (history is append-only); `log` marks versions whose artifact was collected.
  return { kept: keys.length - removed.length, removed, bytesFreed, resumeRemoved };
}
