// `peftmake status [targets..]`: what a build would do and why; changes nothing.
import type { CommandModule } from 'yargs';
import { statusOf } from '../../exec/build.ts';
import { outcomeLine } from '../render.ts';
import { fileOption, jsonOption, printJson, type CommonArgs } from '../options.ts';

interface Args extends CommonArgs {
  targets: string[];
}

export const statusCommand: CommandModule<object, Args> = {
  command: 'status [targets..]',
  describe: 'show each stage as fresh / would build / would restore, with reasons',
  builder: (y) =>
    y
      .positional('targets', { type: 'string', array: true, default: [] })
      .option('file', fileOption)
      .option('json', jsonOption) as never,
  handler: async (a) => {
    const report = await statusOf({ file: a.file, targets: a.targets });
    if (a.json) return printJson(report);
    for (const s of report.stages) process.stdout.write(`${outcomeLine(s, true)}\n`);
    const stale = report.stages.filter((s) => s.action !== 'fresh').length;
    const pinnedStale = report.stages.filter((s) => s.pinned && s.stale).length;
    const pins = pinnedStale ? `; ${pinnedStale} pinned stage(s) held back from newer inputs (\`peftmake unpin\`)` : '';
    process.stdout.write(`${stale ? `${stale} of ${report.stages.length} stage(s) out of date` : `all ${report.stages.length} stage(s) fresh`}${pins}\n`);
  },
};
