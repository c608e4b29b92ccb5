// `peftmake gc [--keep N]`: delete old artifacts, keeping the newest N versions per stage and anything current,
// pinned or referenced.
import type { CommandModule } from 'yargs';
import { collectGarbage } from '../../store/gc.ts';
import { acquireLock } from '../../store/lock.ts';
import { layoutFor } from '../project.ts';
import { statusOf } from '../../exec/build.ts';
import { TOOLCHAIN } from '../toolchain.ts';
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
    // The resume folders worth keeping: those of the keys a build would build now (an invalid pipeline: keep all
    // but those of committed keys).
    let live: Set<string> | undefined;
    try {
      const plan = await statusOf({ toolchain: TOOLCHAIN, file: a.file });
      live = new Set(plan.stages.filter((s) => s.action === 'built').map((s) => `${s.name}/${s.key}`));
    } catch {
      live = undefined;
    }
    const lock = await acquireLock(layout, { command: 'gc' });
    try {
      const r = collectGarbage(layout, a.keep, a.dryRun, live);
      if (a.json) return printJson(r);
      const verb = a.dryRun ? 'would remove' : 'removed';
      const resume = r.resumeRemoved.length ? ` and ${r.resumeRemoved.length} abandoned resume folder(s)` : '';
      process.stdout.write(`${verb} ${r.removed.length} artifact(s)${resume}, ${(r.bytesFreed / 1e6).toFixed(1)} MB; kept ${r.kept}\n`);
    } finally {
      lock.release();
    }
  },
};
