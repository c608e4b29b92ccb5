// Version-history operations behind log / diff / rollback / unpin: look up versions and re-point refs.
import { PeftError } from '../errors.ts';
import type { StageManifest } from '../stage.ts';
import { closest } from '../util/suggest.ts';
import type { StoreLayout } from './layout.ts';
import { findVersion, listRefs, readRef, writeRef, type StageRef, type VersionRecord } from './refs.ts';
import { requireManifest } from './objects.ts';
import { requireIntact } from './verify.ts';

export function requireRef(layout: StoreLayout, stage: string): StageRef {
  const ref = readRef(layout, stage);
  if (ref) return ref;
  const known = listRefs(layout).map((r) => r.stage);
  const guess = closest(stage, known);
  throw new PeftError('E_NOT_FOUND', `no versions recorded for "${stage}"${guess ? ` (did you mean "${guess}"?)` : ''}`, {
    hint: known.length ? `stages with versions: ${known.join(', ')}` : 'run `peftmake build` first',
  });
}

export function requireVersion(ref: StageRef, spec: string | number): VersionRecord {
  const v = findVersion(ref, spec);
  if (!v)
    throw new PeftError('E_NOT_FOUND', `${ref.stage} has no version "${spec}" (it has v1..v${ref.versions.length})`, {
      hint: `\`peftmake log ${ref.stage}\` lists them`,
    });
  return v;
}

export function versionManifest(layout: StoreLayout, stage: string, v: VersionRecord): StageManifest {
  return requireManifest(layout, v.key, `${stage} v${v.version}`);
}

/** Points the stage at an earlier version and pins it there. */
export function pinToVersion(layout: StoreLayout, stage: string, spec: string): VersionRecord {
  const ref = requireRef(layout, stage);
  const v = requireVersion(ref, spec);
  versionManifest(layout, stage, v); // must still be in the store
  // ... and whole: every byte re-hashed before the ref moves onto it.
  requireIntact(layout, v.key, `${stage} v${v.version}`, `it cannot be rolled back to; pick another version (\`peftmake log ${stage}\`)`);
  ref.current = v.version;
  ref.pinned = true;
  ref.events.push({ at: new Date().toISOString(), event: 'rollback', version: v.version });
  writeRef(layout, ref);
  return v;
}

export function unpin(layout: StoreLayout, stage: string): StageRef {
  const ref = requireRef(layout, stage);
  if (!ref.pinned) throw new PeftError('E_USAGE', `${stage} is not pinned`, { hint: 'only a rolled-back stage is pinned' });
  ref.pinned = false;
  ref.events.push({ at: new Date().toISOString(), event: 'unpin', version: ref.current });
  writeRef(layout, ref);
  return ref;
}
