// Runs a command stage: each command through a shell (execa) in the project directory, in its own process group, its
// output streamed to the stage log; a non-zero exit or a signal fails the stage. An abort cancels it: SIGTERM to the
// whole group (grandchildren included), SIGKILL after a grace period, and the cancel is reported only once the group
// is gone, so nothing of the stage writes after it. A build killed outright (SIGKILL, the OOM killer) takes the group
// with it: a watchdog in the group holds a pipe from the build and kills the group when the pipe closes.
import { PeftError } from '../../src/errors.ts';
import type { RunContext, RunResult } from '../../src/stage.ts';
import type { CommandConfig } from './index.ts';

const GRACE_MS = 1500;

/**
 * The group leader: runs the command ("$1") in the background and waits for it, exiting with its status (a signal
 * re-raised); beside it, a watcher blocks on stdin, the build's end of a pipe that is never written, and on EOF (the
 * build is gone) SIGKILLs the whole group. The command itself gets /dev/null as stdin and the stage log as stderr.
 */
const WATCHDOG = [
  'exec 3<&0 </dev/null 4>&2 2>/dev/null', // the shell's own notes ("Killed") stay out of the stage log
  '(read -r _ <&3; kill -KILL 0) &',
  'w=$!',
  'sh -c "$1" 2>&4 3<&- 4>&- &',
  'c=$!',
  'wait "$c"; s=$?',
  'kill -KILL "$w" 2>/dev/null',
  'if [ "$s" -gt 128 ]; then kill -s "$(kill -l "$s")" $$; fi',
  'exit "$s"',
].join('\n');

function signalGroup(pgid: number | undefined, sig: NodeJS.Signals): void {
  if (!pgid) return;
  try {
    process.kill(-pgid, sig);
  } catch {
    // the group is gone
  }
}

/** Waits until no process of the group is left (SIGKILL after the grace period). */
async function groupGone(pgid: number | undefined): Promise<void> {
  if (!pgid) return;
  const t0 = Date.now();
  while (true) {
    try {
      process.kill(-pgid, 0);
    } catch {
      return;
    }
    if (Date.now() - t0 > GRACE_MS) signalGroup(pgid, 'SIGKILL');
    if (Date.now() - t0 > GRACE_MS + 2000) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function runOne(cmd: string, ctx: RunContext<CommandConfig>): Promise<void> {
  ctx.log(`$ ${cmd}`);
  const { execa } = await import('execa'); // loaded on first run only: planning and no-op builds stay fast
  const sub = execa('/bin/sh', ['-c', WATCHDOG, 'peftmake-stage', cmd], {
    cwd: ctx.projectDir,
    env: { ...ctx.config.env, PEFTMAKE_STAGE: ctx.name },
    stdin: 'pipe', // the watchdog's pipe: never written, closed by the kernel if this process dies
    all: true,
    buffer: false,
    detached: true, // its own process group: a cancel reaches every process the command started
    reject: false,
  });
  const group = sub.pid;
  let killTimer: NodeJS.Timeout | undefined;
  const onAbort = (): void => {
    signalGroup(group, 'SIGTERM');
    killTimer = setTimeout(() => signalGroup(group, 'SIGKILL'), GRACE_MS);
  };
  if (ctx.signal.aborted) onAbort();
  else ctx.signal.addEventListener('abort', onAbort, { once: true });
  let res: Awaited<typeof sub>;
  try {
    for await (const line of sub.iterable({ from: 'all' })) ctx.log(String(line));
    res = await sub;
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    if (killTimer) clearTimeout(killTimer);
  }
  if (ctx.signal.aborted) {
    await groupGone(group);
    throw new PeftError('E_CANCELLED', `${ctx.name}: interrupted`);
  }
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
