// Collects a composition stage for the report: its stack and weights per version, the version history and events,
// and why it is pinned (a rollback by hand, or an eval gate that kept the previous version).
import type { StoreLayout } from '../store/layout.ts';
import { hasObject } from '../store/objects.ts';
import { listRefs, readRef, type StageRef } from '../store/refs.ts';
import type { CompositionSection } from './model.ts';
import { readArtifactJson } from './read-artifacts.ts';

interface CompositionFile {
  method?: string;
  base?: { name: string };
  adapters?: { name: string; key: string; version?: number; weight?: number }[];
}

interface GateKeep {
  gate?: { keep?: Record<string, string>; messages?: string[] };
}

/** The eval run whose gate pinned `stage` at `key` just before `at`, as a sentence; undefined for a hand rollback. */
export function gateNote(layout: StoreLayout, stage: string, key: string, at: string, evalRefs: StageRef[]): string | undefined {
  const t = Date.parse(at);
  for (const ref of evalRefs) {
    for (const v of ref.versions) {
      const dt = t - Date.parse(v.createdAt);
      if (dt < 0 || dt > 600_000 || !hasObject(layout, v.key)) continue;
      const m = readArtifactJson<GateKeep>(layout.object(v.key), 'metrics.json');
      if (m?.gate?.keep?.[stage] !== key) continue;
      const why = m.gate.messages?.find((x) => x.includes(stage)) ?? 'the gate rejected the new version';
      return `kept by the gate of ${ref.stage} v${v.version}: ${why.replace(/^gate: /, '')}`;
    }
  }
  return undefined;
}

function adaptersOf(layout: StoreLayout, f: CompositionFile | undefined): CompositionSection['adapters'] {
  return (f?.adapters ?? []).map((a) => ({
    name: a.name,
    key: a.key,
    weight: a.weight ?? 1,
    version: a.version ?? readRef(layout, `adapters.${a.name}`)?.versions.find((x) => x.key === a.key)?.version ?? null,
  }));
}

export function collectComposition(layout: StoreLayout, stage: string): CompositionSection {
  const ref = readRef(layout, stage);
  if (!ref) return { stage, current: 0, pinned: false, pinReason: null, adapters: [], versions: [], events: [] };
  const evalRefs = listRefs(layout).filter((r) => r.stage.startsWith('evals.'));
  const versions = ref.versions.map((v) => {
    const inStore = hasObject(layout, v.key);
    const f = inStore ? readArtifactJson<CompositionFile>(layout.object(v.key), 'composition.json') : undefined;
    return {
      version: v.version,
      key: v.key,
      createdAt: v.createdAt,
      current: v.version === ref.current,
      inStore,
      method: f?.method,
      adapters: f ? adaptersOf(layout, f) : undefined,
    };
  });
  const keyOf = (n: number) => ref.versions.find((v) => v.version === n)?.key ?? '';
  const events = ref.events.map((e): CompositionSection['events'][number] => {
    if (e.event !== 'rollback') return { ...e };
    return { ...e, note: gateNote(layout, stage, keyOf(e.version), e.at, evalRefs) ?? 'rolled back by hand (`peftmake rollback`)' };
  });
  const lastPin = [...events].reverse().find((e) => e.event === 'rollback' || e.event === 'unpin');
  const cur = versions.find((v) => v.current);
  const curFile = cur?.inStore ? readArtifactJson<CompositionFile>(layout.object(cur.key), 'composition.json') : undefined;
  return {
    stage,
    current: ref.current,
    pinned: ref.pinned,
    pinReason: ref.pinned && lastPin?.event === 'rollback' ? (lastPin.note ?? null) : null,
    base: curFile?.base?.name,
    method: curFile?.method,
    adapters: adaptersOf(layout, curFile),
    versions,
    events,
  };
}
