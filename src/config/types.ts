// The frozen, fully resolved pipeline that planning works on: one entry per stage with its declared inputs.
import type { DeclaredDeps, Section, StageKind } from '../stage.ts';

export interface StageEntry {
  name: string; // `<section>.<name>`
  section: Section;
  entryName: string;
  kind: StageKind;
  pointer: string; // JSON pointer of the entry in the pipeline file, e.g. /adapters/qa
  config: Readonly<Record<string, unknown>>; // resolved, frozen
  deps: Readonly<DeclaredDeps>;
  /** Declared upstream stages plus stages whose outputs this stage's files read; sorted. */
  upstream: string[];
  /** Normalised project-relative files / dirs / globs to hash (those inside an upstream output are left out). */
  files: string[];
  /** Upstream outputs lying inside a dir or glob of `files`: excluded from hashing (their stage key stands for them). */
  excludes: string[];
  /** Normalised project-relative workspace outputs. */
  outputs: string[];
  heavy: boolean;
}

export interface Pipeline {
  file: string; // absolute path of pipeline.json
  label: string; // how messages name it (relative to the cwd)
  projectDir: string; // absolute
  config: Readonly<Record<string, unknown>>; // the whole resolved, frozen pipeline
  stages: ReadonlyMap<string, StageEntry>;
  order: readonly string[]; // topological, upstream first
  edges: ReadonlyMap<string, readonly string[]>;
}
