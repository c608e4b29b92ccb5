// `peftmake diff <stage> [from] [to]`: what differs between two versions (default: previous vs current).
import type { CommandModule } from 'yargs';
import { loadPipeline } from '../../config/load.ts';
import { requireRef, requireVersion, versionManifest } from '../../store/history.ts';
import { diffVersions, formatDiff } from '../../store/diff.ts';
import { PeftError } from '../../errors.ts';
import type { UpstreamArtifact } from '../../stage.ts';
import { layoutFor } from '../project.ts';
import { TOOLCHAIN, kindOfStage } from '../toolchain.ts';
import { fileOption, jsonOption, printJson, type CommonArgs } from '../options.ts';

interface Args extends CommonArgs {
  stage: string;
  from?: string;
  to?: string;
}

export const diffCommand: CommandModule<object, Args> = {
  command: 'diff <stage> [from] [to]',
  describe: 'compare two versions of a stage: config, inputs, metrics, outputs (default: previous vs current)',
  builder: (y) =>
    y
      .positional('stage', { type: 'string', demandOption: true })
      .positional('from', { type: 'string', describe: 'version, e.g. v1 or 1' })
      .positional('to', { type: 'string', describe: 'version (default: current)' })
      .option('file', fileOption)
      .option('json', jsonOption) as never,
  handler: async (a) => {
    const layout = layoutFor(a.file);
    const ref = requireRef(layout, a.stage);
    const to = requireVersion(ref, a.to ?? ref.current);
    const fromSpec = a.from ?? (to.version > 1 ? to.version - 1 : undefined);
    if (fromSpec === undefined)
      throw new PeftError('E_NOT_FOUND', `${a.stage} has only one version (v${to.version}); nothing to compare`, { hint: 'name two versions' });
    const from = requireVersion(ref, fromSpec);
    const art = (v: typeof to): UpstreamArtifact => {
      const manifest = versionManifest(layout, a.stage, v);
      return { name: a.stage, kind: manifest.kind, key: v.key, version: v.version, dir: layout.object(v.key), manifest };
    };
    let kind = kindOfStage(a.stage);
    try {
      loadPipeline(a.file, { kinds: TOOLCHAIN.kinds }); // a kind diff only when the pipeline still loads; the core diff needs only the store
    } catch {
      kind = undefined;
    }
    const d = await diffVersions(kind, art(from), art(to));
    if (a.json) return printJson(d);
    process.stdout.write(`${formatDiff(d).join('\n')}\n`);
  },
};
