// The `command` stage kind (stages.<name>): a shell command run through execa with live output; the core
// captures its declared `outs` into the store and restores them from it.
import { PeftError } from '../../src/errors.ts';
import type { DeclaredDeps, RunContext, StageKind } from '../../src/stage.ts';
import { commandSchema } from './schema.ts';

export interface CommandConfig {
  cmd: string | string[];
  deps: string[];
  outs: string[];
  params: (string | Record<string, string[]>)[];
  env: Record<string, string>;
  heavy: boolean;
}

export const DEFAULT_PARAMS_FILE = 'params.json';

/** Groups `params` entries by file: bare keys come from params.json. */
export function paramsByFile(params: CommandConfig['params']): { file: string; keys: string[] }[] {
  const byFile = new Map<string, string[]>();
  const add = (file: string, key: string): void => {
    const keys = byFile.get(file) ?? [];
    if (!keys.includes(key)) keys.push(key);
    byFile.set(file, keys);
  };
  for (const p of params) {
    if (typeof p === 'string') add(DEFAULT_PARAMS_FILE, p);
    else for (const [file, keys] of Object.entries(p)) for (const k of keys) add(file, k);
  }
  return [...byFile].map(([file, keys]) => ({ file, keys }));
}

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

const command: StageKind<CommandConfig> = {
  section: 'stages',
  kind: 'command',
  implVersion: '1',
  schema: commandSchema,
  isHeavy: (c) => c.heavy,
  workspaceOutputs: (_name, c) => c.outs,
  deps(_name, c): DeclaredDeps {
    return { upstream: [], files: c.deps, paramsFiles: paramsByFile(c.params) };
  },
  async run(ctx) {
    const cmds = Array.isArray(ctx.config.cmd) ? ctx.config.cmd : [ctx.config.cmd];
    for (const c of cmds) await runOne(c, ctx);
    return {};
  },
};

export default command;
