// `peftmake run-stage <stage> --key <key>`: what a Slurm job runs on a compute node (see src/exec/worker.ts); the build
// that submitted it commits the outputs. Not meant to be typed by hand.
import type { CommandModule } from 'yargs';
import { runStageWorker } from '../../exec/worker.ts';
import { interruptSignal } from '../interrupt.ts';
import { fileOption } from '../options.ts';
import { TOOLCHAIN } from '../toolchain.ts';

interface Args {
  file: string;
  stage: string;
  key: string;
  jobDir?: string;
}

export const runStageCommand: CommandModule<object, Args> = {
  command: 'run-stage <stage>',
  describe: 'run one stage into its job directory (what a Slurm job runs; the build commits the result)',
  builder: (y) =>
    y
      .positional('stage', { type: 'string', demandOption: true, describe: 'full stage name, e.g. adapters.domain' })
      .option('key', { type: 'string', demandOption: true, describe: 'the stage key the build planned' })
      .option('job-dir', { type: 'string', describe: 'the job directory (artifacts/jobs/<key>)' })
      .option('file', fileOption) as never,
  handler: async (a) => {
    await threadsFromSlurm();
    process.exitCode = await runStageWorker({ toolchain: TOOLCHAIN, file: a.file, stage: a.stage, key: a.key, jobDir: a.jobDir, signal: interruptSignal() });
  },
};

/** The engine's threads follow the job's CPU allocation (`executor.cpusPerTask`) rather than the node's core count. */
async function threadsFromSlurm(): Promise<void> {
  const n = Number(process.env.SLURM_CPUS_PER_TASK);
  if (!Number.isInteger(n) || n < 1) return;
  try {
    const { nativeEngine } = await import('../../engine/native.ts');
    nativeEngine().setThreads(n);
  } catch {
    // no native engine here: a command stage does not need it
  }
}
