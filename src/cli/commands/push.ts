// `peftmake push <stage> --repo owner/name [--revision branch] [--private]`: uploads the stage's current version
// (an adapter or an export) to the hub with HF_TOKEN; `peftmake log` then lists where each version was pushed.
import type { CommandModule } from 'yargs';
import { pushStage } from '../hub-push.ts';
import { layoutFor } from '../project.ts';
import { fileOption, jsonOption, printJson, type CommonArgs } from '../options.ts';

interface Args extends CommonArgs {
  stage: string;
  repo: string;
  revision?: string;
  private?: boolean;
}

export const pushCommand: CommandModule<object, Args> = {
  command: 'push <stage>',
  describe: 'upload an adapter or an export to a Hugging Face hub repo (HF_TOKEN)',
  builder: (y) =>
    y
      .positional('stage', { type: 'string', demandOption: true })
      .option('repo', { type: 'string', demandOption: true, describe: 'hub repo owner/name (created when missing)' })
      .option('revision', { type: 'string', describe: 'branch to commit to (default main; created when missing)' })
      .option('private', { type: 'boolean', describe: 'create the repo private' })
      .option('file', fileOption)
      .option('json', jsonOption) as never,
  handler: async (a) => {
    const r = await pushStage(layoutFor(a.file), { stage: a.stage, repo: a.repo, revision: a.revision, private: a.private });
    if (a.json) return printJson(r);
    process.stdout.write(`${r.stage} v${r.version} → ${r.repo}@${r.revision} (commit ${r.commit.slice(0, 12)}, ${r.files.length} files)\n`);
  },
};
