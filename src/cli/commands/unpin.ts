// `peftmake unpin <stage>`: let a rolled-back stage follow its inputs again (the next build may rebuild it).
import type { CommandModule } from 'yargs';
import { unpin } from '../../store/history.ts';
import { acquireLock } from '../../store/lock.ts';
import { layoutFor } from '../project.ts';
import { fileOption, type CommonArgs } from '../options.ts';

interface Args extends CommonArgs {
  stage: string;
}

export const unpinCommand: CommandModule<object, Args> = {
  command: 'unpin <stage>',
  describe: 'remove the pin a rollback set; the next build follows the inputs again',
  builder: (y) => y.positional('stage', { type: 'string', demandOption: true }).option('file', fileOption) as never,
  handler: async (a) => {
    const layout = layoutFor(a.file);
    const lock = await acquireLock(layout, { command: `unpin ${a.stage}` });
    try {
      const ref = unpin(layout, a.stage);
      process.stdout.write(`${a.stage} unpinned (current v${ref.current}); \`peftmake status\` shows whether it is stale\n`);
    } finally {
      lock.release();
    }
  },
};
