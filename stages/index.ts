// The registry of stage kinds: one per pipeline.json section. The core looks kinds up here by section.
import type { Section, StageKind } from '../src/stage.ts';
import model from './model/index.ts';
import dataset from './dataset/index.ts';
import adapter from './adapter/index.ts';
import composition from './composition/index.ts';
import evalKind from './eval/index.ts';
import exportKind from './export/index.ts';
import command from './command/index.ts';

/** In pipeline.json order: sections are listed in this order in the schema and in the build output. */
export const STAGE_KINDS: readonly StageKind[] = [model, dataset, adapter, composition, evalKind, exportKind, command];

export const SECTIONS: readonly Section[] = STAGE_KINDS.map((k) => k.section);

export function kindForSection(section: string): StageKind | undefined {
  return STAGE_KINDS.find((k) => k.section === section);
}
