// The one error type of peftmake: every failure users can cause carries a stable `code`, a message that
// names the file / JSON path / line, and (optionally) the fix. The CLI prints these without a stack trace.

export type ErrorCode =
  | 'E_CONFIG_PARSE' // pipeline.json is not valid JSON
  | 'E_CONFIG_SCHEMA' // pipeline.json breaks the JSON Schema
  | 'E_CONFIG_SEMANTIC' // references, cycles, duplicate outputs, paths escaping the project
  | 'E_NOT_IMPLEMENTED' // a stage kind the schema accepts but this version cannot build yet
  | 'E_STAGE_FAILED' // a stage's run() failed
  | 'E_INPUT_CHANGED' // an input changed while its stage was running
  | 'E_INPUT_MISSING' // a declared input file or glob matches nothing
  | 'E_LOCKED' // another build holds the lock
  | 'E_STORE' // the artifact store is inconsistent or an artifact is missing
  | 'E_USAGE' // bad command-line arguments
  | 'E_NOT_FOUND' // a named stage / version / file does not exist
  | 'E_DATA' // malformed dataset input (names file and line)
  | 'E_HUB' // Hugging Face hub download / cache problems
  | 'E_MODEL' // malformed or unsupported model files
  | 'E_ADAPTER' // malformed or mismatched adapter files
  | 'E_ENGINE' // the native engine refused its input
  | 'E_CANCELLED' // interrupted by the user (Ctrl-C) or an AbortSignal
  | 'E_IO' // the operating system refused a write (a full disk, a quota, a read-only filesystem)
  | 'E_SLURM' // a Slurm command (sbatch, squeue, scontrol, scancel, sinfo) is absent or failed, or a job failed
  | 'E_INTERNAL'; // a bug in peftmake

export interface ErrorDetails {
  file?: string;
  pointer?: string; // JSON pointer, e.g. /adapters/qa/lora/r
  line?: number;
  hint?: string; // how to fix it
  problems?: string[]; // several problems reported at once
  [extra: string]: unknown;
}

export class PeftError extends Error {
  readonly code: ErrorCode | string;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode | string, message: string, details: ErrorDetails = {}) {
    super(message);
    this.name = 'PeftError';
    this.code = code;
    this.details = details;
  }
}

/** Exit codes the CLI maps errors to. */
export function exitCodeFor(err: unknown): number {
  if (!(err instanceof PeftError) && !(err as { code?: string })?.code) return 70; // internal bug
  const code = (err as { code: string }).code;
  if (code === 'E_USAGE') return 64;
  if (code.startsWith('E_CONFIG')) return 65;
  if (code === 'E_LOCKED') return 75;
  if (code === 'E_CANCELLED') return 130;
  return 1;
}

/**
 * A stage's one-line failure: the message, and for a full disk or an unreachable hub the fix too (free space, a
 * longer timeout), since the build reports stage failures without their hints.
 */
export function stageFailureText(e: PeftError): string {
  return (e.code === 'E_IO' || e.code === 'E_HUB') && e.details.hint ? `${e.message}; ${e.details.hint}` : e.message;
}
