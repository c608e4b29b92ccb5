// The peftmake CLI: yargs with one module per command; one top-level catch maps errors to exit codes.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { PeftError, exitCodeFor } from '../errors.ts';
import { commandsFor } from './commands/index.ts';
import { formatError } from './format-error.ts';

export async function main(argv: string[]): Promise<number> {
  const cli = yargs(argv)
    .scriptName('peftmake')
    .strict()
    .demandCommand(1, 'name a command (peftmake --help lists them)')
    .recommendCommands()
    .fail((msg, err) => {
      throw err ?? new PeftError('E_USAGE', msg ?? 'bad arguments', { hint: 'see peftmake <command> --help' });
    })
    .help()
    .version(false)
    .wrap(Math.min(110, process.stdout.columns ?? 100));
  skipHelpCache(cli);
  try {
    for (const c of await commandsFor(argv)) cli.command(c);
    process.exitCode = 0;
    await cli.parseAsync();
    return Number(process.exitCode ?? 0);
  } catch (e) {
    process.stderr.write(`${formatError(e)}\n`);
    if (argv.includes('--json') && e instanceof PeftError) {
      process.stdout.write(`${JSON.stringify({ ok: false, error: { code: e.code, message: e.message, ...e.details } }, null, 2)}\n`);
    }
    return exitCodeFor(e);
  }
}

/**
 * yargs renders a command's whole help text after its handler ran, to keep for a later showHelp (one that never
 * comes: usage errors are thrown by .fail above and printed by formatError). With the text wrapped to the terminal
 * that cost ~50 ms of every run; `--help` itself renders as before.
 */
function skipHelpCache(cli: ReturnType<typeof yargs>): void {
  const usage = (cli as unknown as { getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: () => void } } })
    .getInternalMethods?.()
    .getUsageInstance?.();
  if (usage && typeof usage.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => {};
}

/** `peftmake log | head`: the reader went away; stop quietly (exit 0), as cat and git do, without a stack trace. */
function quietOnEpipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}

const isEntry = process.argv[1] !== undefined && /(?:main\.ts|peftmake(?:\.js)?)$/.test(process.argv[1]);
if (isEntry) {
  quietOnEpipe(process.stdout);
  quietOnEpipe(process.stderr);
  const code = await main(hideBin(process.argv));
  process.exitCode = code;
}
