// `peftmake fsck [--repair]`: verify every byte of the store against its manifests; with --repair (under the build
// lock) remove damaged objects and leftovers so the next build rebuilds them. Exit 1 while problems remain.
import type { CommandModule } from 'yargs';
import { fsck } from '../../store/fsck.ts';
import { acquireLock } from '../../store/lock.ts';
import { layoutFor } from '../project.ts';
import { fileOption, jsonOption, printJson, type CommonArgs } from '../options.ts';

interface Args extends CommonArgs {
  repair: boolean;
}

export const fsckCommand: CommandModule<object, Args> = {
  command: 'fsck',
  describe: 'check every artifact in the store against its recorded hashes (--repair removes damaged ones)',
  builder: (y) =>
    y
      .option('repair', { type: 'boolean', default: false, describe: 'remove damaged objects and leftovers (the next build rebuilds them)' })
      .option('file', fileOption)
      .option('json', jsonOption) as never,
  handler: async (a) => {
    const layout = layoutFor(a.file);
    const lock = a.repair ? await acquireLock(layout, { command: 'fsck --repair' }) : undefined;
    try {
      const r = fsck(layout, { repair: a.repair });
      const open = r.problems.filter((p) => !p.repaired);
      if (open.length) process.exitCode = 1;
      if (a.json) return printJson({ ok: open.length === 0, ...r });
      for (const p of r.problems) process.stdout.write(`${p.repaired ? 'repaired' : 'damaged'}: ${p.what}: ${p.problem}\n  fix: ${p.fix}\n`);
      const unv = r.unverified.length ? `, ${r.unverified.length} without recorded hashes (built by an older peftmake)` : '';
      process.stdout.write(
        `${r.objects} object(s): ${r.intact} intact${unv}; ${open.length} problem(s) left${r.problems.length - open.length ? `, ${r.problems.length - open.length} repaired` : ''}\n`,
      );
    } finally {
      lock?.release();
    }
  },
};
