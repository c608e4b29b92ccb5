// `peftmake rollback <stage> <version>`: re-point the stage at an earlier version, pin it there, and rebuild only
// what depends on it (the stage itself is restored from the store, never rerun).
import type { CommandModule } from 'yargs';
import { build } from '../../exec/build.ts';
import { TOOLCHAIN } from '../toolchain.ts';
import { pinToVersion } from '../../store/history.ts';
import { StoreLayout } from '../../store/layout.ts';
import { downstreamOf } from '../../graph/graph.ts';
import { PeftError } from '../../errors.ts';
import { closest } from '../../util/suggest.ts';
import { HumanReporter, summaryLine } from '../render.ts';
import { interruptSignal } from '../interrupt.ts';
import { fileOption, type CommonArgs } from '../options.ts';
import { loadPipeline } from '../../config/load.ts';

interface Args extends CommonArgs {
  stage: string;
  version: string;
  jobs: number;
}

export const rollbackCommand: CommandModule<object, Args> = {
  command: 'rollback <stage> <version>',
  describe: 'pin a stage at an earlier version and rebuild what depends on it',
  builder: (y) =>
    y
      .positional('stage', { type: 'string', demandOption: true })
      .positional('version', { type: 'string', demandOption: true, describe: 'e.g. v1 or 1' })
      .option('file', fileOption)
      .option('jobs', { alias: 'j', type: 'number', default: 1 }) as never,
  handler: async (a) => {
    const pipeline = loadPipeline(a.file, { kinds: TOOLCHAIN.kinds });
    if (!pipeline.stages.has(a.stage)) {
      const g = closest(a.stage, pipeline.stages.keys());
      throw new PeftError('E_NOT_FOUND', `no stage "${a.stage}" in ${pipeline.label}${g ? ` (did you mean "${g}"?)` : ''}`);
    }
    let pinned = 0;
    const report = await build({
      toolchain: TOOLCHAIN,
      pipeline,
      targets: [a.stage, ...downstreamOf(a.stage, pipeline.edges)],
      jobs: a.jobs,
      signal: interruptSignal(),
      reporter: new HumanReporter(),
      beforePlan: () => {
        pinned = pinToVersion(new StoreLayout(pipeline.projectDir), a.stage, a.version).version;
      },
    });
    process.stdout.write(`${a.stage} pinned at v${pinned} (\`peftmake unpin ${a.stage}\` to follow its inputs again)\n${summaryLine(report)}\n`);
    if (!report.ok) process.exitCode = 1;
  },
};
