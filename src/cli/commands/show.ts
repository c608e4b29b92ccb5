// `peftmake show datasets.NAME [version]`: a dataset artifact's stats (counts at every step and why, PII, token
// lengths) and its first samples with the loss-carrying part marked (highlighted on a terminal).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandModule } from 'yargs';
import { PeftError } from '../../errors.ts';
import { requireRef, requireVersion } from '../../store/history.ts';
import { currentVersion } from '../../store/refs.ts';
import { layoutFor } from '../project.ts';
import { fileOption, jsonOption, printJson, type CommonArgs } from '../options.ts';

interface Args extends CommonArgs {
  stage: string;
  version?: string;
  samples: number;
}

/** Splits samples.txt into its header and per-sample blocks. */
function sampleBlocks(text: string): { header: string; blocks: string[] } {
  const [header, ...rest] = text.split(/\n\n(?=--- )/);
  return { header, blocks: rest.map((b) => b.trimEnd()) };
}

export function highlightLoss(text: string, tty: boolean): string {
  return tty ? text.replace(/⟦/g, '\x1b[1;32m').replace(/⟧/g, '\x1b[0m') : text;
}

export const showCommand: CommandModule<object, Args> = {
  command: 'show <stage> [version]',
  describe: 'show a dataset artifact: stats and samples with the loss-masked part marked',
  builder: (y) =>
    y
      .positional('stage', { type: 'string', demandOption: true, describe: 'a dataset stage, e.g. datasets.qa' })
      .positional('version', { type: 'string', describe: 'version (v3 or 3); default: the current one' })
      .option('samples', { type: 'number', default: 3, describe: 'samples to print per split (at most 3 are stored)' })
      .option('file', fileOption)
      .option('json', jsonOption) as never,
  handler: (a) => {
    if (!a.stage.startsWith('datasets.'))
      throw new PeftError('E_USAGE', `show prints dataset artifacts; "${a.stage}" is not a datasets.* stage`, {
        hint: 'use `peftmake log` or `peftmake diff` for other stages',
      });
    const layout = layoutFor(a.file);
    const ref = requireRef(layout, a.stage);
    const v = a.version !== undefined ? requireVersion(ref, a.version) : currentVersion(ref);
    if (!v) throw new PeftError('E_NOT_FOUND', `${a.stage} has no current version`, { hint: 'run `peftmake build` first' });
    const dir = layout.object(v.key);
    const statsFile = join(dir, 'stats.json');
    if (!existsSync(statsFile))
      throw new PeftError('E_STORE', `${a.stage} v${v.version}: ${statsFile} is missing (collected by gc, or not a dataset artifact)`, {
        hint: `rebuild it: peftmake build ${a.stage}`,
      });
    const stats = JSON.parse(readFileSync(statsFile, 'utf8'));
    const samplesFile = join(dir, 'samples.txt');
    const { header, blocks } = existsSync(samplesFile) ? sampleBlocks(readFileSync(samplesFile, 'utf8')) : { header: '', blocks: [] };
    const keep = (b: string) => Number(/^--- \w+\[(\d+)\]/.exec(b)?.[1] ?? 0) < a.samples;
    const chosen = blocks.filter(keep);
    if (a.json) return printJson({ stage: a.stage, version: v.version, key: v.key, dir, stats, samples: chosen });
    const tty = Boolean(process.stdout.isTTY);
    const statsText = existsSync(join(dir, 'stats.txt')) ? readFileSync(join(dir, 'stats.txt'), 'utf8') : `${JSON.stringify(stats, null, 2)}\n`;
    process.stdout.write(`${a.stage} v${v.version} (${v.key.slice(0, 12)}) at ${dir}\n${statsText}`);
    if (chosen.length)
      process.stdout.write(`\n${tty ? 'Loss-carrying tokens are highlighted.' : header}\n\n${chosen.map((b) => highlightLoss(b, tty)).join('\n\n')}\n`);
  },
};
