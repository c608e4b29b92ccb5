// The single list of CLI commands: add a command by importing its module and appending it here.
import type { CommandModule } from 'yargs';
import { buildCommand } from './build.ts';
import { statusCommand } from './status.ts';
import { validateCommand } from './validate.ts';
import { logCommand } from './log.ts';
import { diffCommand } from './diff.ts';
import { rollbackCommand } from './rollback.ts';
import { unpinCommand } from './unpin.ts';
import { gcCommand } from './gc.ts';
import { watchCommand } from './watch.ts';
import { generateCommand } from './generate.ts';
import { scoreCommand } from './score.ts';
import { showCommand } from './show.ts';
import { doctorCommand } from './doctor.ts';

export const COMMANDS: CommandModule<any, any>[] = [
  buildCommand,
  statusCommand,
  validateCommand,
  logCommand,
  diffCommand,
  rollbackCommand,
  unpinCommand,
  gcCommand,
  watchCommand,
  generateCommand,
  scoreCommand,
  showCommand,
  doctorCommand,
];
