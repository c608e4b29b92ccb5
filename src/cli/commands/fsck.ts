// `peftmake fsck [--repair] [--rebuild-unverified]`: verify every byte of the store against its manifests; with
// --repair (under the build lock) remove damaged objects and leftovers so the next build rebuilds them, and record the
// file hashes of older objects whose files could all be checked; --rebuild-unverified also removes the older objects
// nothing can check. Exit 1 while problems remain (objects without hashes are usable: reported, not a failure).
import type { CommandModule } from 'yargs';
import { PeftError } from '../../errors.ts';
import { fsck } from '../../store/fsck.ts';
import { acquireLock } from '../../store/lock.ts';
import { layoutFor } from '../project.ts';
import { fileOption, jsonOption, printJson, type CommonArgs } from '../options.ts';

interface Args extends CommonArgs {
  repair: boolean;
  rebuildUnverified: boolean;
}

export const fsckCommand: CommandModule<object, Args> = {
  command: 'fsck',
  describe: 'check every artifact in the store against its recorded hashes (--repair removes damaged ones)',
  builder: (y) =>
    y
      .option('repair', {
        type: 'boolean',
        default: false,
        describe: 'remove damaged objects and leftovers (the next build rebuilds them); record the hashes of older objects that check out',
      })
      .option('rebuild-unverified', {
        type: 'boolean',
        default: false,
        describe: 'with --repair: also remove objects of an older peftmake that nothing can check (the next build rebuilds them)',
      })
      .option('file', fileOption)
      .option('json', jsonOption) as never,
  handler: async (a) => {
    if (a.rebuildUnverified && !a.repair)
      throw new PeftError('E_USAGE', '--rebuild-unverified goes with --repair', { hint: 'peftmake fsck --repair --rebuild-unverified' });
    const layout = layoutFor(a.file);
    const lock = a.repair ? await acquireLock(layout, { command: 'fsck --repair' }) : undefined;
    try {
      const r = fsck(layout, { repair: a.repair, rebuildUnverified: a.rebuildUnverified });
      const open = r.problems.filter((p) => !p.repaired);
      if (open.length) process.exitCode = 1;
      if (a.json) return printJson({ ok: open.length === 0, ...r });
      for (const p of r.problems) process.stdout.write(`${p.repaired ? 'repaired' : 'damaged'}: ${p.what}: ${p.problem}\n  fix: ${p.fix}\n`);
      for (const n of r.notes) process.stdout.write(n.repaired ? `repaired: ${n.what}: ${n.done}\n` : `unverified: ${n.what}: ${n.problem}\n  fix: ${n.fix}\n`);
      const left = r.notes.filter((n) => !n.repaired).length;
      const unv = left ? `, ${left} without recorded hashes (built by an older peftmake)` : '';
      process.stdout.write(
        `${r.objects} object(s): ${r.intact} intact${unv}; ${open.length} problem(s) left${r.problems.length - open.length ? `, ${r.problems.length - open.length} repaired` : ''}\n`,
      );
    } finally {
      lock?.release();
    }
  },
};
