// `peftmake status [targets..]`: what a build would do and why; changes nothing. Exits 1 when a stage cannot be planned.
import type { CommandModule } from 'yargs';
import { statusOf } from '../../exec/build.ts';
import { TOOLCHAIN } from '../toolchain.ts';
import { outcomeLine } from '../render.ts';
import { fileOption, jsonOption, printJson, type CommonArgs } from '../options.ts';

interface Args extends CommonArgs {
  targets: string[];
  verify: boolean;
}

export const statusCommand: CommandModule<object, Args> = {
  command: 'status [targets..]',
  describe: 'show each stage as fresh / would build / would restore, with reasons',
  builder: (y) =>
    y
      .positional('targets', { type: 'string', array: true, default: [] })
      .option('file', fileOption)
      .option('verify', { type: 'boolean', default: false, describe: 're-hash every byte of the committed artifacts (not only files whose stat changed)' })
      .option('json', jsonOption) as never,
  handler: async (a) => {
    const report = await statusOf({ toolchain: TOOLCHAIN, file: a.file, targets: a.targets, verify: a.verify });
    if (!report.ok) process.exitCode = 1; // a stage that cannot be planned (a missing input, say) is not a clean status
    if (a.json) return printJson(report);
    for (const s of report.stages) process.stdout.write(`${outcomeLine(s, true)}\n`);
    const stale = report.stages.filter((s) => s.action !== 'fresh').length;
    const pinnedStale = report.stages.filter((s) => s.pinned && s.stale).length;
    const pins = pinnedStale ? `; ${pinnedStale} pinned stage(s) held back from newer inputs (\`peftmake unpin\`)` : '';
    const blocked = report.stages.filter((s) => s.action === 'failed' || s.action === 'skipped').length;
    const cannot = blocked ? `; ${blocked} cannot build (see above)` : '';
    process.stdout.write(
      `${stale ? `${stale} of ${report.stages.length} stage(s) out of date` : `all ${report.stages.length} stage(s) fresh`}${pins}${cannot}\n`,
    );
  },
};
