// How the CLI prints an error: PeftErrors as code, message and hint without a stack; anything else as a bug.
import { PeftError } from '../errors.ts';
import { ioError } from '../util/io-errors.ts';

export function formatError(raw: unknown): string {
  const e = ioError(raw);
  if (e instanceof PeftError) {
    const hint = e.details.hint ? `\nhint: ${e.details.hint}` : '';
    return `error[${e.code}]: ${e.message}${hint}`;
  }
  const err = e as Error;
  return `internal error: ${err?.stack ?? String(e)}\nThis is a bug in peftmake; please report it.`;
}
