// The single list of CLI commands, by name, each loaded on demand: add a command by naming its module here.
// Only the module of the command being run is imported, so `peftmake build` does not pay for `generate`'s engine.
import type { CommandModule } from 'yargs';

type Loader = () => Promise<CommandModule<any, any>>;

/** In `peftmake --help` order. */
export const COMMAND_LOADERS: Readonly<Record<string, Loader>> = {
  build: () => import('./build.ts').then((m) => m.buildCommand),
  status: () => import('./status.ts').then((m) => m.statusCommand),
  validate: () => import('./validate.ts').then((m) => m.validateCommand),
  log: () => import('./log.ts').then((m) => m.logCommand),
  diff: () => import('./diff.ts').then((m) => m.diffCommand),
  rollback: () => import('./rollback.ts').then((m) => m.rollbackCommand),
  unpin: () => import('./unpin.ts').then((m) => m.unpinCommand),
  gc: () => import('./gc.ts').then((m) => m.gcCommand),
  fsck: () => import('./fsck.ts').then((m) => m.fsckCommand),
  watch: () => import('./watch.ts').then((m) => m.watchCommand),
  generate: () => import('./generate.ts').then((m) => m.generateCommand),
  score: () => import('./score.ts').then((m) => m.scoreCommand),
  serve: () => import('./serve.ts').then((m) => m.serveCommand),
  show: () => import('./show.ts').then((m) => m.showCommand),
  report: () => import('./report.ts').then((m) => m.reportCommand),
  doctor: () => import('./doctor.ts').then((m) => m.doctorCommand),
  'run-stage': () => import('./run-stage.ts').then((m) => m.runStageCommand),
  push: () => import('./push.ts').then((m) => m.pushCommand),
};

/**
 * The command modules yargs needs for `argv`: just the named one when argv starts with a command name (yargs then
 * dispatches to it and never looks at the others), otherwise all of them (help, suggestions for a typo).
 */
export async function commandsFor(argv: readonly string[]): Promise<CommandModule<any, any>[]> {
  const first = argv[0];
  if (first !== undefined && Object.hasOwn(COMMAND_LOADERS, first)) return [await COMMAND_LOADERS[first]!()];
  return Promise.all(Object.values(COMMAND_LOADERS).map((load) => load()));
}
