// `peftmake watch [targets..]`: rebuild on every change of a declared input or of pipeline.json.
import type { CommandModule } from 'yargs';
import { watchPipeline } from '../../watch/watch.ts';
import { TOOLCHAIN } from '../toolchain.ts';
import { formatError } from '../format-error.ts';
import { HumanReporter, summaryLine } from '../render.ts';
import { interruptSignal } from '../interrupt.ts';
import { fileOption, type CommonArgs } from '../options.ts';

interface Args extends CommonArgs {
  targets: string[];
  jobs: number;
  keepGoing: boolean;
}

export const watchCommand: CommandModule<object, Args> = {
  command: 'watch [targets..]',
  describe: 'build, then rebuild whenever an input or the pipeline file changes (Ctrl-C stops)',
  builder: (y) =>
    y
      .positional('targets', { type: 'string', array: true, default: [] })
      .option('file', fileOption)
      .option('jobs', { alias: 'j', type: 'number', default: 1 })
      .option('keep-going', { alias: 'k', type: 'boolean', default: false }) as never,
  handler: async (a) => {
    const say = (s: string): boolean => process.stdout.write(`${s}\n`);
    await watchPipeline({
      toolchain: TOOLCHAIN,
      file: a.file,
      targets: a.targets,
      jobs: a.jobs,
      keepGoing: a.keepGoing,
      signal: interruptSignal(),
      reporter: new HumanReporter(),
      onEvent: (e) => {
        if (e.type === 'ready') say(`watching ${e.paths.length} path(s); Ctrl-C stops`);
        else if (e.type === 'change' && e.paths.length) say(`changed: ${e.paths.join(', ')}`);
        else if (e.type === 'unchanged') say('no stage affected (content unchanged)');
        else if (e.type === 'build') say(`${summaryLine(e.report)}; watching`);
        else if (e.type === 'invalid') say(`${formatError(e.error)}\n(still watching; fix the file to continue)`);
        else if (e.type === 'reloaded') say(`pipeline loaded: ${e.stages} stage(s)`);
        else if (e.type === 'locked') say(`${formatError(e.error)}\n(the change is kept: building as soon as the lock frees)`);
        else if (e.type === 'error') say(`${formatError(e.error)}\n(still watching)`);
      },
    });
  },
};
