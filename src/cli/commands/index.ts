// The single list of CLI commands: add a command by importing its module and appending it here.
import type { CommandModule } from 'yargs';
import { buildCommand } from './build.ts';
import { statusCommand } from './status.ts';
import { validateCommand } from './validate.ts';

export const COMMANDS: CommandModule<any, any>[] = [buildCommand, statusCommand, validateCommand];
