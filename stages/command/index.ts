// The `command` stage kind (stages.<name>): a shell command run through execa with live output; the core
// captures its declared `outs` into the store and restores them from it.
import type { DeclaredDeps, StageKind } from '../../src/stage.ts';
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
  run: (ctx) => import('./command-stage.ts').then((m) => m.runCommandStage(ctx)),
};

export default command;
