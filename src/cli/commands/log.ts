// `peftmake log <stage>`: the stage's version history (v1, v2, ...), current and pinned marked.
import type { CommandModule } from 'yargs';
import { requireRef } from '../../store/history.ts';
import { hasObject } from '../../store/objects.ts';
import { formatReason } from '../../store/reasons.ts';
import { pushesOf } from '../../hub/push.ts';
import { formatSeconds } from '../render.ts';
import { layoutFor } from '../project.ts';
import { fileOption, jsonOption, printJson, type CommonArgs } from '../options.ts';

interface Args extends CommonArgs {
  stage: string;
}

export const logCommand: CommandModule<object, Args> = {
  command: 'log <stage>',
  describe: 'list the versions of a stage with time, reasons and metrics',
  builder: (y) => y.positional('stage', { type: 'string', demandOption: true }).option('file', fileOption).option('json', jsonOption) as never,
  handler: (a) => {
    const layout = layoutFor(a.file);
    const ref = requireRef(layout, a.stage);
    const pushes = pushesOf(layout, a.stage);
    const versions = ref.versions.map((v) => ({ ...v, current: v.version === ref.current, inStore: hasObject(layout, v.key), pushes: pushes.filter((p) => p.key === v.key) }));
    if (a.json) return printJson({ stage: ref.stage, current: ref.current, pinned: ref.pinned, versions, events: ref.events });
    process.stdout.write(`${ref.stage}: current v${ref.current}${ref.pinned ? ' (pinned)' : ''}\n`);
    for (const v of [...versions].reverse()) {
      const metrics = Object.entries(v.metrics)
        .filter(([, x]) => typeof x === 'number')
        .map(([k, x]) => `${k}=${Number((x as number).toPrecision(5))}`)
        .join(' ');
      const reasons = v.reasons.map(formatReason).join(', ');
      process.stdout.write(
        `${v.current ? '*' : ' '} v${v.version}  ${v.createdAt}  ${v.action}  ${v.key.slice(0, 12)}  ${formatSeconds(v.seconds)}` +
          `${reasons ? `  (${reasons})` : ''}${metrics ? `  ${metrics}` : ''}${v.inStore ? '' : '  [collected]'}\n`,
      );
      for (const p of v.pushes) process.stdout.write(`      pushed → ${p.repo}@${p.revision}  commit ${p.commit.slice(0, 12)}  ${p.at}\n`);
    }
  },
};
