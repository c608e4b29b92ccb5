// Stage refs: artifacts/refs/<stage>.json maps a stage to its current version, with an append-only version
// history (v1, v2, ... each a key, time, reasons, metrics) and an append-only event log; plus the pin.
import { readFileSync, readdirSync } from 'node:fs';
import { PeftError } from '../errors.ts';
import type { Reason } from './reasons.ts';
import { writeJsonAtomic } from './atomic.ts';
import type { StoreLayout } from './layout.ts';

export interface VersionRecord {
  version: number;
  key: string;
  createdAt: string;
  action: 'built' | 'restored';
  reasons: Reason[];
  metrics: Record<string, unknown>;
  seconds: number;
  /** The cluster job that built this version (`executor: slurm`): its id, every attempt's id, the node. */
  job?: { executor: string; id: string; attempts: string[]; node?: string };
}

export interface RefEvent {
  at: string;
  event: 'built' | 'restored' | 'rollback' | 'unpin';
  version: number;
}

export interface StageRef {
  stage: string;
  current: number; // version number
  pinned: boolean;
  versions: VersionRecord[];
  events: RefEvent[];
}

export function readRef(layout: StoreLayout, stage: string): StageRef | undefined {
  let text: string;
  try {
    text = readFileSync(layout.ref(stage), 'utf8');
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text) as StageRef;
  } catch {
    throw new PeftError('E_STORE', `${layout.ref(stage)}: corrupt ref file`, { hint: 'restore it from a backup or delete it (the stage then rebuilds)' });
  }
}

export function writeRef(layout: StoreLayout, ref: StageRef): void {
  writeJsonAtomic(layout.ref(ref.stage), ref);
}

export function currentVersion(ref: StageRef | undefined): VersionRecord | undefined {
  return ref?.versions.find((v) => v.version === ref.current);
}

export function findVersion(ref: StageRef, spec: string | number): VersionRecord | undefined {
  const n = typeof spec === 'number' ? spec : Number(String(spec).replace(/^v/i, ''));
  return ref.versions.find((v) => v.version === n);
}

/** Points the ref at `key`: reuses the version that has it, or appends a new version. */
export function recordVersion(
  layout: StoreLayout,
  stage: string,
  key: string,
  info: { action: 'built' | 'restored'; reasons: Reason[]; metrics: Record<string, unknown>; seconds: number; job?: VersionRecord['job'] },
): VersionRecord {
  const ref: StageRef = readRef(layout, stage) ?? { stage, current: 0, pinned: false, versions: [], events: [] };
  const at = new Date().toISOString();
  let v = ref.versions.find((x) => x.key === key);
  if (!v) {
    v = { version: ref.versions.length + 1, key, createdAt: at, ...info };
    ref.versions.push(v);
  }
  ref.current = v.version;
  ref.events.push({ at, event: info.action, version: v.version });
  writeRef(layout, ref);
  return v;
}

export function listRefs(layout: StoreLayout): StageRef[] {
  let files: string[];
  try {
    files = readdirSync(layout.refs).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  return files.map((f) => readRef(layout, f.slice(0, -5))).filter((r): r is StageRef => r !== undefined);
}
