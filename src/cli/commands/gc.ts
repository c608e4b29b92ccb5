// `peftmake gc [--keep N]`: delete old artifacts, keeping the newest N versions per stage and anything current,
// pinned or referenced.
import type { CommandModule } from 'yargs';
import { collectGarbage } from '../../store/gc.ts';
import { acquireLock } from '../../store/lock.ts';
import { layoutFor } from '../project.ts';
import { fileOption, jsonOption, printJson, type CommonArgs } from '../options.ts';

interface Args extends CommonArgs {
  keep: number;
  dryRun: boolean;
}

export const gcCommand: CommandModule<object, Args> = {
  command: 'gc',
  describe: 'remove old artifacts from the store (never current, pinned or referenced ones)',
  builder: (y) =>
    y
      .option('keep', { type: 'number', default: 3, describe: 'versions to keep per stage, newest first' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'list what would be removed' })
      .option('file', fileOption)
      .option('json', jsonOption) as never,
  handler: async (a) => {
    const layout = layoutFor(a.file);
    const lock = await acquireLock(layout, { command: 'gc' });
    try {
      const r = collectGarbage(layout, a.keep, a.dryRun);
      if (a.json) return printJson(r);
      process.stdout.write(`${a.dryRun ? 'would remove' : 'removed'} ${r.removed.length} artifact(s), ${(r.bytesFreed / 1e6).toFixed(1)} MB; kept ${r.kept}\n`);
    } finally {
      lock.release();
    }
  },
};
