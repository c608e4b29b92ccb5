// The one place the CLI composes the core with what it runs: the stage-kind registry and the engine version.
// Commands hand this to config, plan, exec and watch, which import neither stages/ nor the engine version themselves.
import type { StageKind, Toolchain } from '../stage.ts';
import { STAGE_KINDS } from '../../stages/index.ts';
import { ENGINE_VERSION } from '../engine/version.ts';

export const TOOLCHAIN: Toolchain = Object.freeze({ kinds: STAGE_KINDS, engineVersion: ENGINE_VERSION });

/** The kind of a stage named `<section>.<name>`, if the section is one. */
export function kindOfStage(stage: string): StageKind | undefined {
  const section = stage.split('.')[0];
  return TOOLCHAIN.kinds.find((k) => k.section === section);
}
