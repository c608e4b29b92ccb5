// `peftmake build [targets..]`: rebuild what is stale, restore what the store already has.
import type { CommandModule } from 'yargs';
import { build } from '../../exec/build.ts';
import { TOOLCHAIN } from '../toolchain.ts';
import { HumanReporter, JsonModeReporter, outcomeLine, summaryLine } from '../render.ts';
import { interruptSignal } from '../interrupt.ts';
import { fileOption, jsonOption, printJson, type CommonArgs } from '../options.ts';

interface Args extends CommonArgs {
  targets: string[];
  dryRun: boolean;
  jobs: number;
  keepGoing: boolean;
  wait: number;
  verify: boolean;
  executor?: 'local' | 'slurm';
}

export const buildCommand: CommandModule<object, Args> = {
  command: 'build [targets..]',
  describe: 'build stale stages (all, or the targets and what they depend on)',
  builder: (y) =>
    y
      .positional('targets', { type: 'string', array: true, default: [], describe: 'stage names (<section>.<name>), sections, or unique bare names' })
      .option('file', fileOption)
      .option('dry-run', { type: 'boolean', default: false, describe: 'show what would happen, change nothing' })
      .option('jobs', { alias: 'j', type: 'number', default: 1, describe: 'stages run in parallel (heavy stages still one at a time)' })
      .option('keep-going', { alias: 'k', type: 'boolean', default: false, describe: 'after a failure, keep building what does not depend on it' })
      .option('wait', { type: 'number', default: 0, describe: 'seconds to wait for another build holding the lock' })
      .option('verify', { type: 'boolean', default: false, describe: 're-hash every byte of the committed artifacts used (a damaged one is rebuilt)' })
      .option('executor', {
        type: 'string',
        choices: ['local', 'slurm'],
        describe: 'where heavy stages run (over pipeline.json `executor`): here, or as Slurm jobs',
      })
      .option('json', jsonOption) as never,
  handler: async (a) => {
    const report = await build({
      toolchain: TOOLCHAIN,
      file: a.file,
      targets: a.targets,
      dryRun: a.dryRun,
      jobs: a.jobs,
      keepGoing: a.keepGoing,
      waitSeconds: a.wait,
      verify: a.verify,
      executor: a.executor,
      json: a.json,
      signal: interruptSignal(),
      reporter: a.json ? new JsonModeReporter() : new HumanReporter(),
    });
    if (a.json) printJson(report);
    else {
      if (a.dryRun) for (const s of report.stages) process.stdout.write(`${outcomeLine(s, true)}\n`);
      process.stdout.write(`${a.dryRun ? 'dry run: nothing changed' : summaryLine(report)}\n`);
    }
    if (!report.ok) process.exitCode = 1;
  },
};
