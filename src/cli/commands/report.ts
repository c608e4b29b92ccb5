// `peftmake report [--out DIR] [--open] [--compare STAGE A B]`: writes the project's self-contained HTML report
// (or a two-version comparison) into a folder; the work is in src/report.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import type { CommandModule } from 'yargs';
import { PeftError } from '../../errors.ts';
import { TOOLCHAIN, kindOfStage } from '../toolchain.ts';
import { renderReportHtml } from '../../report/html/page.ts';
import { renderCompareHtml } from '../../report/html/compare-page.ts';
import { statusOf } from '../../exec/build.ts';
import { collectCompare } from '../../report/compare.ts';
import { projectReportModel, writeReportFile } from '../../report/index.ts';
import { layoutFor } from '../project.ts';
import { fileOption, jsonOption, printJson, type CommonArgs } from '../options.ts';

interface Args extends CommonArgs {
  out?: string;
  open: boolean;
  compare?: string[];
}

/** Opens a file with the desktop's default program; says so (and where the file is) when there is none. */
function openFile(path: string): void {
  const [cmd, args] =
    process.platform === 'darwin' ? ['open', [path]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '', path]] : ['xdg-open', [path]];
  const child = spawn(cmd, args as string[], { detached: true, stdio: 'ignore' });
  child.on('error', () => process.stderr.write(`could not run ${cmd} to open the report; open ${path} in a browser\n`));
  child.unref();
}

export const reportCommand: CommandModule<object, Args> = {
  command: 'report',
  describe: 'write a self-contained HTML report: pipeline graph, loss curves, evals, versions, datasets',
  builder: (y) =>
    y
      .option('out', { type: 'string', describe: 'output folder (default: artifacts/report in the project)' })
      .option('open', { type: 'boolean', default: false, describe: 'open the report in the default browser' })
      .option('compare', { type: 'string', array: true, describe: 'STAGE A B: two versions side by side, e.g. --compare adapters.task v1 v3' })
      .option('file', fileOption)
      .option('json', jsonOption) as never,
  handler: async (a) => {
    const layout = layoutFor(a.file);
    const outDir = a.out !== undefined ? resolve(a.out) : resolve(layout.root, 'report');
    let path: string;
    if (a.compare) {
      if (a.compare.length !== 3)
        throw new PeftError('E_USAGE', `--compare takes a stage and two versions (got ${a.compare.length} values)`, {
          hint: 'e.g. peftmake report --compare adapters.task v1 v3',
        });
      const [stage, va, vb] = a.compare;
      const model = await collectCompare(layout, stage, va, vb, kindOfStage(stage));
      path = writeReportFile(outDir, `compare-${stage}-v${model.a.version}-v${model.b.version}.html`, renderCompareHtml(model));
    } else {
      const model = await projectReportModel(a.file, {
        kinds: TOOLCHAIN.kinds,
        plan: async (pipeline) => (await statusOf({ pipeline, toolchain: TOOLCHAIN })).stages,
      });
      path = writeReportFile(outDir, 'index.html', renderReportHtml(model));
    }
    if (a.json) printJson({ ok: true, path });
    else process.stdout.write(`report: ${path}\n`);
    if (a.open) openFile(path);
  },
};
