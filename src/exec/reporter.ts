// What the executor tells the outside world while it works (the CLI renders it; tests can record it).
import type { StageProgress } from '../stage.ts';
import type { Reason } from '../store/reasons.ts';

export type StageAction = 'built' | 'fresh' | 'restored' | 'failed' | 'skipped';

export interface StageOutcome {
  name: string;
  kind: string;
  action: StageAction;
  version: number | null;
  key: string;
  reasons: Reason[];
  seconds: number;
  pinned?: boolean;
  stale?: boolean;
  error?: string;
  summary?: string;
}

export interface BuildReport {
  ok: boolean;
  stages: StageOutcome[];
}

export interface Reporter {
  stageStart(name: string, action: 'built' | 'restored'): void;
  progress(name: string, p: StageProgress): void;
  log(name: string, line: string): void;
  stageEnd(outcome: StageOutcome): void;
}

export const silentReporter: Reporter = { stageStart() {}, progress() {}, log() {}, stageEnd() {} };

/** Builds an outcome with its fields in the documented order (name, kind, action, version, key, reasons, seconds, ...). */
export function makeOutcome(o: StageOutcome): StageOutcome {
  const { name, kind, action, version, key, reasons, seconds, ...rest } = o;
  return { name, kind, action, version, key, reasons, seconds: Math.round(seconds * 1000) / 1000, ...rest };
}
