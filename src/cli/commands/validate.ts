// `peftmake validate`: check pipeline.json against the schema and the semantic rules; build nothing.
import type { CommandModule } from 'yargs';
import { loadPipeline } from '../../config/load.ts';
import { TOOLCHAIN } from '../toolchain.ts';
import { fileOption, jsonOption, printJson, type CommonArgs } from '../options.ts';

export const validateCommand: CommandModule<object, CommonArgs> = {
  command: 'validate',
  describe: 'check the pipeline file (schema + semantic rules) and list its stages',
  builder: (y) => y.option('file', fileOption).option('json', jsonOption) as never,
  handler: (a) => {
    const p = loadPipeline(a.file, { kinds: TOOLCHAIN.kinds });
    if (a.json)
      return printJson({
        ok: true,
        file: p.label,
        stages: p.order.map((n) => ({ name: n, kind: p.stages.get(n)!.kind.kind, upstream: p.stages.get(n)!.upstream })),
      });
    process.stdout.write(`${p.label}: valid, ${p.order.length} stage(s)\n`);
    for (const n of p.order) {
      const e = p.stages.get(n)!;
      process.stdout.write(`  ${n} (${e.kind.kind})${e.upstream.length ? ` <- ${e.upstream.join(', ')}` : ''}\n`);
    }
  },
};
