// `peftmake doctor [--json]`: what to check first on a machine: Node, CPU flags, the native addon and its
// kernels (sgemm library, oneDNN and the bf16 kernel it picks, threads), the compute mode `auto` picks,
// Hugging Face settings (the token is never printed) and the artifact store's size.
import type { CommandModule } from 'yargs';
import { collectFacts } from '../../doctor/collect.ts';
import { allOk, autoComputeMode, diagnose } from '../../doctor/diagnose.ts';
import { renderChecks } from '../../doctor/render.ts';
import { fileOption, jsonOption, printJson, type CommonArgs } from '../options.ts';

export const doctorCommand: CommandModule<object, CommonArgs> = {
  command: 'doctor',
  describe: 'check this machine: CPU flags, native engine and kernels, compute mode, Hugging Face settings, store size',
  builder: (y) => y.option('file', fileOption).option('json', jsonOption) as never,
  handler: (a) => {
    const facts = collectFacts({ pipeline: a.file });
    const checks = diagnose(facts);
    if (a.json) return printJson({ ok: allOk(checks), compute_auto: autoComputeMode(facts), facts, checks });
    process.stdout.write(renderChecks(checks));
  },
};
