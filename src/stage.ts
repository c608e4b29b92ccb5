// The stage contract: what every stage kind in stages/<kind>/ implements and what the core hands it.
// The core hashes what `deps` and `resolve` declare and never looks inside ML details.

/** The sections of pipeline.json; a stage's full name is `<section>.<name>`, e.g. `adapters.domain`. */
export type Section = 'models' | 'datasets' | 'adapters' | 'compositions' | 'evals' | 'exports' | 'stages';

/** A JSON Schema (2020-12) fragment. */
export type JsonSchema = Record<string, unknown>;

/** What a stage declares it reads. Pure: computed from the resolved config alone (no IO). */
export interface DeclaredDeps {
  /** Upstream stages by full name (`datasets.notes`); their keys join this stage's key. */
  upstream: string[];
  /** Project-relative files or globs; content hashes join the key (globs expand to a sorted manifest). */
  files: string[];
  /** Files or directories outside the project (a local base model, say) hashed like `files`; absolute, or relative to the project. */
  externalFiles?: string[];
  /** Keys (dotted paths) of JSON params files (project-relative); the core reads their values, which join the key. */
  paramsFiles?: { file: string; keys: string[] }[];
  /** Extra parameters that join the key (e.g. values read from a params file by the core). */
  params?: Record<string, unknown>;
}

/** A name one stage entry refers to, for semantic checks ("did you mean") and the graph. */
export interface StageReference {
  /** JSON pointer relative to the stage entry, e.g. `/data` or `/adapters/0/name`. */
  pointer: string;
  /** Full stage name it refers to, e.g. `datasets.qa`. */
  target: string;
}

/** Progress reported by a running stage; the CLI renders a bar (TTY) or plain lines. */
export interface StageProgress {
  step?: number;
  total?: number;
  unit?: string; // 'step', 'file', 'MB' ...
  message?: string;
  metrics?: Record<string, number>; // e.g. loss, tokens_per_s
}

/** A committed artifact of an upstream stage, as the core shows it to its dependents. */
export interface UpstreamArtifact {
  name: string; // full stage name
  kind: string;
  key: string;
  version: number;
  dir: string; // absolute path of the committed, read-only artifact directory
  manifest: StageManifest;
}

/** Written by the core as manifest.json beside every committed artifact. */
export interface StageManifest {
  name: string;
  kind: string;
  implVersion: string;
  key: string;
  config: unknown;
  inputs: { path: string; sha256: string; size: number }[];
  upstream: Record<string, string>; // stage name -> key
  resolved: Record<string, unknown>;
  engineVersion: string;
  metrics: Record<string, unknown>;
  createdAt: string;
  seconds: number;
  host?: string;
  /** Workspace outputs captured into the artifact under `outs/` (see StageKind.workspaceOutputs). */
  outputs?: { path: string; sha256: string; size: number }[];
  /** Values read from params files, by `file:key`. */
  params?: Record<string, unknown>;
  /** Every file of the committed object (relative path, size, sha256): what verification checks. */
  files?: { path: string; size: number; sha256: string }[];
  /** The Slurm job that built it (absent for a local build). */
  job?: { executor: string; id: string; attempts: string[]; node?: string };
}

export interface RunContext<C = unknown> {
  name: string; // full stage name
  kind: string;
  config: Readonly<C>; // this stage's frozen, resolved config (defaults filled in)
  pipeline: Readonly<Record<string, unknown>>; // the whole frozen, resolved pipeline (read-only)
  projectDir: string; // absolute
  outDir: string; // absolute temp dir; the ONLY place run() may write. Committed atomically on success.
  upstream: Record<string, UpstreamArtifact>; // by full stage name
  resolved: Record<string, unknown>; // what resolve() returned (e.g. a hub commit sha)
  inputs: { path: string; sha256: string; size: number }[]; // hashed declared input files
  /** A committed artifact from an earlier build of this stage with a different key, if any (for resume / warm start). */
  previous?: UpstreamArtifact;
  /** Scratch dir that survives an interrupted run of the same key (checkpoints for resume); removed on commit. */
  resumeDir: string;
  /** This run's stage key (checkpoints are stamped with it). */
  key?: string;
  signal: AbortSignal;
  /** Set in a cluster job, where the signal means SIGTERM before a kill: save what resumeDir needs to resume at the
   * point reached (training checkpoints the step it stopped at), then end. Unset: stop as for Ctrl-C. */
  checkpointOnAbort?: boolean;
  json: boolean; // --json: stay quiet on stdout
  progress(p: StageProgress): void;
  log(line: string): void;
}

export interface RunResult {
  metrics?: Record<string, unknown>;
  summary?: string; // one line for the human build output
  /** Stages to keep at an earlier key (stage name -> key), pinned there after this stage commits: an eval gate that rejects a regressed composition. */
  keep?: Record<string, string>;
}

/** What inference (generate, score, serve) loads for a committed artifact: the base model and the adapters stacked on it. */
export interface InferenceStack {
  modelDir: string;
  adapters: { name: string; dir: string; weight: number }[];
  /**
   * The format prompts are put in: the chat template (and its date) the adapters were trained with, or null for the
   * prompt as is; where the choice comes from; warnings when it is not clear-cut. Absent: the base's chat template.
   */
  prompt?: { chat: { template: string; date: string | null } | null; source: string; warnings: string[] };
}

/** A line of a stage-specific diff between two versions (e.g. adapter weight norms). */
export interface DiffLine {
  section: string; // 'weights', 'metrics', ...
  text: string;
  data?: Record<string, unknown>;
}

/**
 * What the entry point (the CLI, the test helpers) hands the core: the stage-kind registry (stages/index.ts) and the
 * engine version that joins every stage key. The core imports neither, so config and plan stay below stages/ and the engine.
 */
export interface Toolchain {
  kinds: readonly StageKind[];
  engineVersion: string;
}

export interface StageKind<C = any> {
  section: Section;
  kind: string; // 'dataset', 'adapter', 'command', ...
  /** Implementation version; bump it when outputs would change for the same inputs. Part of the key. */
  implVersion: string;
  /** Heavy stages (training) hold the exclusive compute slot. */
  heavy?: boolean;
  /** Schema of ONE entry of the section (e.g. of `datasets.<name>`), with descriptions and defaults. */
  schema: JsonSchema;
  /** Optional, pure: the names this entry refers to with their pointers (better errors than `deps().upstream`). */
  references?(name: string, config: C): StageReference[];
  /**
   * Optional, pure: project-relative paths this stage writes in the workspace (command `outs`, export dirs).
   * The core copies them from the workspace into the artifact after run() and materialises them from the store.
   */
  workspaceOutputs?(name: string, config: C): string[];
  /** Optional, pure: per-entry heaviness when it depends on config (command stages' `heavy`). */
  isHeavy?(config: C): boolean;
  /** Optional: fill defaults the schema cannot express (derived values). Must be pure. */
  resolveConfig?(name: string, config: C, pipeline: Record<string, unknown>): C;
  /** Pure: what this stage reads, from its resolved config. */
  deps(name: string, config: C, pipeline: Record<string, unknown>): DeclaredDeps;
  /** Optional, may do IO: external facts that join the key (e.g. the commit sha a hub revision resolves to). */
  resolve?(ctx: Omit<RunContext<C>, 'outDir' | 'inputs' | 'resolved' | 'resumeDir' | 'previous' | 'key'>): Promise<Record<string, unknown>>;
  /** Does the work, writing only into ctx.outDir. */
  run(ctx: RunContext<C>): Promise<RunResult>;
  /**
   * Optional: what inference loads for a committed artifact of this kind (compositions); `disable` switches adapters
   * off by name and is a usage error where they cannot be (a merged adapter).
   */
  inferenceStack?(artifact: UpstreamArtifact, opts: { disable?: readonly string[] }): InferenceStack;
  /** Optional: kind-specific diff lines between two committed versions. */
  diff?(a: UpstreamArtifact, b: UpstreamArtifact): Promise<DiffLine[]>;
}
