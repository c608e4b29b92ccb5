// Options shared by several commands.
import type { Options } from 'yargs';

export const fileOption: Options = { alias: 'f', type: 'string', default: 'pipeline.json', describe: 'pipeline file (its directory is the project)' };
export const jsonOption: Options = { type: 'boolean', default: false, describe: 'print one JSON object on stdout, nothing else' };

export interface CommonArgs {
  file: string;
  json: boolean;
}

export function printJson(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
}
