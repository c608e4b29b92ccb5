// Shared run() for stage kinds the schema accepts but this version cannot build yet.
import { PeftError } from '../src/errors.ts';
import type { RunContext, RunResult } from '../src/stage.ts';

export async function notImplemented(ctx: RunContext): Promise<RunResult> {
  throw new PeftError('E_NOT_IMPLEMENTED', `${ctx.name}: stage kind "${ctx.kind}" is not implemented yet`, {
    hint: 'the pipeline validates, but this kind cannot be built by this version of peftmake',
  });
}
