// `peftmake fsck`: checks the whole store (every object re-hashed against its manifest, every ref readable and
// pointing at an object) and, with repair, removes what is damaged so the next build rebuilds it.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import type { PeftError } from '../errors.ts';
import type { StoreLayout } from './layout.ts';
import { readRef, type StageRef } from './refs.ts';
import { verifyObject } from './verify.ts';

export interface FsckProblem {
  what: string; // "object <key>" / "ref <stage>" / "tmp"
  problem: string;
  fix: string;
  repaired?: boolean;
}

export interface FsckReport {
  objects: number;
  intact: number;
  /** Objects committed before file hashes were recorded: readable, not verifiable. */
  unverified: string[];
  problems: FsckProblem[];
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

export function fsck(layout: StoreLayout, opts: { repair?: boolean } = {}): FsckReport {
  const report: FsckReport = { objects: 0, intact: 0, unverified: [], problems: [] };
  const users = new Map<string, string[]>(); // key -> "stage vN" that record it
  const refs: StageRef[] = [];
  for (const f of list(layout.refs).filter((x) => x.endsWith('.json'))) {
    const stage = f.slice(0, -5);
    try {
      const ref = readRef(layout, stage);
      if (ref) refs.push(ref);
    } catch (e) {
      report.problems.push({
        what: `ref ${stage}`,
        problem: (e as PeftError).message,
        fix: `delete ${layout.ref(stage)} (the stage then rebuilds; its version history is lost)`,
      });
    }
  }
  for (const ref of refs) for (const v of ref.versions) users.set(v.key, [...(users.get(v.key) ?? []), `${ref.stage} v${v.version}`]);

  for (const key of list(layout.objects)) {
    report.objects++;
    const r = verifyObject(layout, key, { full: true });
    if (r.state === 'ok') report.intact++;
    else if (r.state === 'unverified') report.unverified.push(key);
    else {
      const who = users.get(key)?.join(', ') ?? 'no version';
      const p: FsckProblem = {
        what: `object ${key.slice(0, 12)} (${who})`,
        problem: r.problems.join('; '),
        fix: 'removed by `peftmake fsck --repair`; the next build rebuilds it',
      };
      if (opts.repair) {
        rmSync(layout.object(key), { recursive: true, force: true });
        p.repaired = true;
      }
      report.problems.push(p);
    }
  }
  for (const ref of refs) {
    const cur = ref.versions.find((v) => v.version === ref.current);
    if (!cur)
      report.problems.push({
        what: `ref ${ref.stage}`,
        problem: `current version v${ref.current} has no record`,
        fix: `\`peftmake rollback ${ref.stage} <version>\` onto a recorded one`,
      });
    else if (!existsSync(layout.object(cur.key)))
      report.problems.push({
        what: `ref ${ref.stage}`,
        problem: `current v${cur.version} (${cur.key.slice(0, 12)}) is not in the store`,
        fix: ref.pinned ? `\`peftmake unpin ${ref.stage}\`, then \`peftmake build\`` : '`peftmake build` rebuilds it',
      });
  }
  const tmp = list(layout.tmp);
  if (tmp.length) {
    const p: FsckProblem = {
      what: 'tmp',
      problem: `${tmp.length} unfinished stage run(s) in ${layout.tmp}`,
      fix: 'removed by the next build or `peftmake fsck --repair`',
    };
    if (opts.repair) {
      rmSync(layout.tmp, { recursive: true, force: true });
      p.repaired = true;
    }
    report.problems.push(p);
  }
  return report;
}
