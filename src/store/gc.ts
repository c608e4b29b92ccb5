// Garbage collection: keeps the newest N versions of each stage and never deletes a current, pinned or
// referenced (an upstream of a kept artifact) version; removes unreferenced objects and stale resume dirs.
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { StoreLayout } from './layout.ts';
import { listRefs } from './refs.ts';
import { readManifest } from './objects.ts';

export interface GcResult {
  kept: number;
  removed: string[]; // keys
  bytesFreed: number;
}

function dirSize(p: string): number {
  let total = 0;
  for (const e of readdirSync(p, { withFileTypes: true })) {
    const q = join(p, e.name);
    total += e.isDirectory() ? dirSize(q) : statSync(q).size;
  }
  return total;
}

export function collectGarbage(layout: StoreLayout, keep: number, dryRun = false): GcResult {
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
  // Version records stay (history is append-only); `log` marks versions whose artifact was collected.
  return { kept: keys.length - removed.length, removed, bytesFreed };
}
