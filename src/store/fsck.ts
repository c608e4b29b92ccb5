// `peftmake fsck`: checks the whole store (every object re-hashed against its manifest, every ref readable and
// pointing at an object) and, with repair, removes what is damaged so the next build rebuilds it. Objects committed
// before file hashes were recorded are checked as far as their manifest allows (see checkUnhashed): repair records
// their hashes where every file could be checked, and the rest are reported unverifiable with the way to rebuild them.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import type { PeftError } from '../errors.ts';
import { canonicalJson, sha256Hex } from '../hash/canonical-json.ts';
import type { StageManifest } from '../stage.ts';
import { writeJsonAtomic } from './atomic.ts';
import type { StoreLayout } from './layout.ts';
import { readRef, type StageRef } from './refs.ts';
import { hashObjectFiles, listObjectFiles, verifyObject } from './verify.ts';

export interface FsckProblem {
  what: string; // "object <key>" / "ref <stage>" / "tmp"
  problem: string;
  fix: string;
  repaired?: boolean;
  /** What the repair did, where it did more than remove (e.g. "file hashes recorded"). */
  done?: string;
}

export interface FsckReport {
  objects: number;
  intact: number;
  /** Objects committed before file hashes were recorded whose files could all be checked (hashes recorded on repair). */
  hashable: string[];
  /** Objects committed before file hashes were recorded with files nothing can check: usable, rebuilt on request. */
  unverified: string[];
  /** Notes on the objects without file hashes (one per object), with their fix. */
  notes: FsckProblem[];
  problems: FsckProblem[];
}

/** The key a manifest's recorded key material gives (the plan's keyOf over the same fields). */
function manifestKey(m: StageManifest): string {
  return sha256Hex(
    canonicalJson({
      kind: m.kind,
      implVersion: m.implVersion,
      config: m.config,
      inputs: (m.inputs ?? []).map((i) => ({ path: i.path, sha256: i.sha256 })),
      params: m.params ?? {},
      upstream: m.upstream,
      resolved: m.resolved,
      engineVersion: m.engineVersion,
    }),
  );
}

/**
 * An object committed before file hashes were recorded (its captured workspace outputs already checked by
 * verifyObject): the files nothing records, and the manifest itself unless its key material hashes to its key.
 */
function uncheckedFiles(dir: string, key: string, m: StageManifest): string[] {
  const outputs = new Set((m.outputs ?? []).map((o) => `outs/${o.path}`));
  const unchecked = listObjectFiles(dir).filter((f) => !outputs.has(f));
  if (manifestKey(m) !== key) unchecked.push('manifest.json');
  return unchecked;
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

export function fsck(layout: StoreLayout, opts: { repair?: boolean; rebuildUnverified?: boolean } = {}): FsckReport {
  const report: FsckReport = { objects: 0, intact: 0, hashable: [], unverified: [], notes: [], problems: [] };
  const users = new Map<string, string[]>(); // key -> "stage vN" that record it
  const removed = new Set<string>(); // objects this repair removed (the next build rebuilds them)
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
    const who = users.get(key)?.join(', ') ?? 'no version';
    if (r.state === 'ok') report.intact++;
    else if (r.state === 'unverified') {
      const dir = layout.object(key);
      const unchecked = uncheckedFiles(dir, key, r.manifest!);
      if (unchecked.length === 0) {
        report.hashable.push(key);
        const note: FsckProblem = {
          what: `object ${key.slice(0, 12)} (${who})`,
          problem: 'committed without file hashes; every file matches what its manifest recorded at commit',
          fix: '`peftmake fsck --repair` records the file hashes',
        };
        if (opts.repair) {
          writeJsonAtomic(layout.manifest(key), { ...r.manifest!, files: hashObjectFiles(dir) });
          note.repaired = true;
          note.done = 'file hashes recorded';
        }
        report.notes.push(note);
      } else {
        report.unverified.push(key);
        const note: FsckProblem = {
          what: `object ${key.slice(0, 12)} (${who})`,
          problem: `unverifiable: committed by an older peftmake without file hashes, and ${unchecked.length} of its files (${unchecked.slice(0, 3).join(', ')}${unchecked.length > 3 ? ', ...' : ''}) match no record`,
          fix: '`peftmake fsck --repair --rebuild-unverified` removes it; the next build that needs it rebuilds it from its inputs',
        };
        if (opts.repair && opts.rebuildUnverified) {
          rmSync(dir, { recursive: true, force: true });
          removed.add(key);
          note.repaired = true;
          note.done = 'removed; the next build that needs it rebuilds it';
        }
        report.notes.push(note);
      }
    } else {
      const p: FsckProblem = {
        what: `object ${key.slice(0, 12)} (${who})`,
        problem: r.problems.join('; '),
        fix: 'removed by `peftmake fsck --repair`; the next build rebuilds it',
      };
      if (opts.repair) {
        rmSync(layout.object(key), { recursive: true, force: true });
        removed.add(key);
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
    else if (!existsSync(layout.object(cur.key)) && !removed.has(cur.key))
      // removed just now: its entry says it is rebuilt
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
