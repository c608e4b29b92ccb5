// The report's plain data model: everything the HTML shows, collected from the pipeline and the store first
// (collect.ts), so the renderers are pure functions of this object.
import type { Change } from '../store/diff.ts';

/** A stage as the pipeline graph shows it. */
export interface GraphNode {
  name: string; // `<section>.<name>`
  kind: string;
  upstream: string[];
  /** What a build would do now: fresh, or stale (would build / restore), failed / blocked (cannot be planned). */
  state: 'fresh' | 'stale' | 'restore' | 'failed' | 'blocked';
  version: number | null; // current version, if any
  pinned: boolean;
  /** Pinned (rolled back, or kept by an eval gate) while its inputs say otherwise. */
  heldBack: boolean;
  reasons: string[]; // why it is not fresh
}

export interface TrainPoint {
  step: number;
  loss: number;
  lr: number;
  tokens: number; // cumulative tokens seen after this step
  tokensPerS: number;
}

export interface ValidPoint {
  step: number;
  loss: number;
  tokens: number | null; // cumulative tokens at that step, when the train log has the step
}

/** One version of an adapter with its curves (present only when its artifact is still in the store). */
export interface AdapterVersion {
  version: number;
  key: string;
  createdAt: string;
  action: string;
  reasons: string[];
  current: boolean;
  metrics: Record<string, unknown>;
  train: TrainPoint[];
  valid: ValidPoint[];
  dataset?: { stage: string; key: string; version: number | null };
}

export interface DatasetSample {
  label: string; // e.g. `train[0]: 242 tokens, 8 with loss`
  /** The text split into runs; `loss` runs carry the loss (marked ⟦…⟧ in samples.txt). */
  parts: { text: string; loss: boolean }[];
}

export interface DatasetView {
  stage: string;
  version: number;
  key: string;
  format: string;
  sources: { file: string; records: number; bytes: number }[];
  steps: { step: string; in: number; out: number; removed: Record<string, number> }[];
  pii: { mode: string; byType: Record<string, number>; records: number } | null;
  lengths: Record<
    string,
    {
      count: number;
      tokens: number;
      lossTokens?: number;
      min: number;
      max: number;
      mean: number;
      p50: number;
      p95: number;
      histogram: { upTo: number; count: number }[];
    }
  >;
  output: Record<string, unknown>;
  samples: DatasetSample[];
}

export interface AdapterSection {
  stage: string;
  current: number;
  pinned: boolean;
  /** Shown versions, current first; earlier ones still in the store overlaid on its charts. */
  versions: AdapterVersion[];
  /** Versions recorded in the history whose artifacts gc removed. */
  collected: number[];
  /** Config changes from each shown earlier version to the current one. */
  configDiffs: { from: number; to: number; changes: Change[] }[];
  /** The dataset version the current adapter trained on. */
  dataset?: DatasetView;
  /** Why this section is empty: an artifact of the stage could not be read (the message names the file). */
  error?: string;
  /** A training of a new key under way (or interrupted): its log so far, from the store's resume area. */
  inProgress?: { key: string; train: TrainPoint[]; valid: ValidPoint[]; maxSteps: number | null; updatedAt: string; buildRunning: boolean };
}

export interface EvalRow {
  subject: string;
  kind: string;
  dataset: string;
  examples?: number;
  perplexity?: number;
  exact_match?: number;
  f1?: number;
}

export interface EvalRun {
  version: number;
  key: string;
  createdAt: string;
  current: boolean;
  /** Flat metrics from the history (`assistant/qa/perplexity`, `gate_passed`). */
  metrics: Record<string, unknown>;
  /** The composition versions this run scored, by stage. */
  compositions: Record<string, number | null>;
  gate: { passed: boolean; messages: string[]; keep: Record<string, string>; regressions: { composition: string; dataset: string; metric: string }[] } | null;
}

export interface EvalSection {
  stage: string;
  current: number;
  datasets: { name: string; qa: boolean }[];
  metrics: string[];
  rows: EvalRow[]; // the current version's metrics.json rows
  gateConfig: Record<string, unknown> | null;
  runs: EvalRun[]; // every version in the history, oldest first
  error?: string;
}

export interface CompositionVersion {
  version: number;
  key: string;
  createdAt: string;
  current: boolean;
  inStore: boolean;
  method?: string;
  adapters?: { name: string; version: number | null; key: string; weight: number }[];
}

export interface CompositionSection {
  stage: string;
  current: number;
  pinned: boolean;
  /** Why it is pinned: a rollback by hand, or an eval gate that kept it. */
  pinReason: string | null;
  base?: string;
  method?: string;
  adapters: { name: string; version: number | null; key: string; weight: number }[];
  versions: CompositionVersion[];
  events: { at: string; event: string; version: number; note?: string }[];
  error?: string;
}

export interface ReportModel {
  title: string;
  description: string;
  projectDir: string;
  pipelineFile: string;
  generatedAt: string;
  graph: GraphNode[];
  adapters: AdapterSection[];
  evals: EvalSection[];
  compositions: CompositionSection[];
  datasets: DatasetView[];
  /** Artifacts that could not be read (damaged files): the report shows the rest and names these. */
  problems: { stage: string; message: string }[];
  /** The build holding the lock while the report was made, if any. */
  running: { pid: number; host: string; startedAt: string; command: string } | null;
  /** Stages with versions but no dedicated section (models, command stages, exports): their history in brief. */
  others: { stage: string; kind: string; current: number | null; pinned: boolean; versions: number }[];
}
