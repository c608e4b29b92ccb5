// `peftmake log <stage>`: the stage's version history (v1, v2, ...), current and pinned marked.
import type { CommandModule } from 'yargs';
import { requireRef } from '../../store/history.ts';
import { hasObject } from '../../store/objects.ts';
import { formatReason } from '../../store/reasons.ts';
import { pushesOf } from '../hub-push.ts';
import { formatSeconds } from '../render.ts';
import { PeftError } from '../../errors.ts';
import { currentVersion } from '../../store/refs.ts';
import { readTrainLog, readValidLog } from '../../report/read-artifacts.ts';
import { terminalPlot } from '../../report/terminal-plot.ts';
import { layoutFor } from '../project.ts';
import { fileOption, jsonOption, printJson, type CommonArgs } from '../options.ts';

interface Args extends CommonArgs {
  stage: string;
  plot: boolean;
}

export const logCommand: CommandModule<object, Args> = {
  command: 'log <stage>',
  describe: 'list the versions of a stage with time, reasons and metrics',
  builder: (y) =>
    y.positional('stage', { type: 'string', demandOption: true }).option('file', fileOption).option('json', jsonOption).option('plot', {
      type: 'boolean',
      default: false,
      describe: "draw the current version's loss curve (adapters): training loss as a line, validation loss as ◆",
    }) as never,
  handler: (a) => {
    const layout = layoutFor(a.file);
    const ref = requireRef(layout, a.stage);
    const pushes = pushesOf(layout, a.stage);
    const versions = ref.versions.map((v) => ({
      ...v,
      current: v.version === ref.current,
      inStore: hasObject(layout, v.key),
      pushes: pushes.filter((p) => p.key === v.key),
    }));
    if (a.plot && !a.stage.startsWith('adapters.'))
      throw new PeftError('E_USAGE', `--plot draws an adapter's loss curve; ${a.stage} is not an adapters.* stage`, {
        hint: 'e.g. peftmake log adapters.task --plot',
      });
    if (a.json) return printJson({ stage: ref.stage, current: ref.current, pinned: ref.pinned, versions, events: ref.events });
    process.stdout.write(`${ref.stage}: current v${ref.current}${ref.pinned ? ' (pinned)' : ''}\n`);
    for (const v of [...versions].reverse()) {
      const metrics = Object.entries(v.metrics)
        .filter(([, x]) => typeof x === 'number')
        .map(([k, x]) => `${k}=${Number((x as number).toPrecision(5))}`)
        .join(' ');
      const reasons = v.reasons.map(formatReason).join(', ');
      const job = v.job
        ? `  slurm job ${v.job.id}${v.job.node ? ` on ${v.job.node}` : ''}${v.job.attempts.length > 1 ? ` (attempts ${v.job.attempts.join(', ')})` : ''}`
        : '';
      process.stdout.write(
        `${v.current ? '*' : ' '} v${v.version}  ${v.createdAt}  ${v.action}  ${v.key.slice(0, 12)}  ${formatSeconds(v.seconds)}${job}` +
          `${reasons ? `  (${reasons})` : ''}${metrics ? `  ${metrics}` : ''}${v.inStore ? '' : '  [collected]'}\n`,
      );
      for (const p of v.pushes) process.stdout.write(`      pushed → ${p.repo}@${p.revision}  commit ${p.commit.slice(0, 12)}  ${p.at}\n`);
    }
    if (a.plot) {
      const cur = currentVersion(ref)!;
      if (!hasObject(layout, cur.key))
        throw new PeftError('E_STORE', `${ref.stage} v${cur.version}: its artifact was collected by gc; no loss log to plot`, {
          hint: `rebuild it: peftmake build ${ref.stage}`,
        });
      const train = readTrainLog(layout.object(cur.key));
      const valid = readValidLog(layout.object(cur.key), train);
      const width = Math.max(20, Math.min(100, (process.stdout.columns ?? 80) - 14));
      process.stdout.write(`\nv${cur.version} loss against step (line: training, ◆: validation)\n`);
      const lines = terminalPlot(
        [{ points: train.map((p) => ({ x: p.step, y: p.loss })) }, { points: valid.map((p) => ({ x: p.step, y: p.loss })), mark: '◆' }],
        { width, height: 12, xLabel: 'step' },
      );
      process.stdout.write(`${lines.join('\n')}\n`);
    }
  },
};
