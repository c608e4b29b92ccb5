// Runs a command stage: each command through a shell (execa) in the project directory, its output streamed to the
// stage log; a non-zero exit or a signal fails the stage, an abort cancels it.
import { PeftError } from '../../src/errors.ts';
import type { RunContext, RunResult } from '../../src/stage.ts';
import type { CommandConfig } from './index.ts';

async function runOne(cmd: string, ctx: RunContext<CommandConfig>): Promise<void> {
  ctx.log(`$ ${cmd}`);
  const { execa } = await import('execa'); // loaded on first run only: planning and no-op builds stay fast
  const sub = execa(cmd, {
    shell: true,
    cwd: ctx.projectDir,
    env: { ...ctx.config.env, PEFTMAKE_STAGE: ctx.name },
    stdin: 'ignore',
    all: true,
    buffer: false,
    cancelSignal: ctx.signal,
    forceKillAfterDelay: 2000,
    reject: false,
  });
  for await (const line of sub.iterable({ from: 'all' })) ctx.log(String(line));
  const res = await sub;
  if (res.isCanceled || ctx.signal.aborted) throw new PeftError('E_CANCELLED', `${ctx.name}: interrupted`);
  if (res.failed) {
    const why = res.signal ? `was killed by ${res.signal}` : res.exitCode !== undefined ? `exited with code ${res.exitCode}` : res.message;
    throw new PeftError('E_STAGE_FAILED', `${ctx.name}: command \`${cmd}\` ${why}`);
  }
}

export async function runCommandStage(ctx: RunContext<CommandConfig>): Promise<RunResult> {
  const cmds = Array.isArray(ctx.config.cmd) ? ctx.config.cmd : [ctx.config.cmd];
  for (const c of cmds) await runOne(c, ctx);
  return {};
}
