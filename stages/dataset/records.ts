// The records that flow through the dataset pipeline, where they came from, and how bad input is reported.
import { PeftError } from '../../src/errors.ts';

/** Where a record came from, for messages: a file and line (1-based), or a JSON path. */
export interface Origin {
  file: string;
  line?: number;
  pointer?: string;
}

export interface RawRecord {
  fields: Record<string, unknown>;
  origin: Origin;
}

export function where(o: Origin): string {
  return `${o.file}${o.line !== undefined ? `:${o.line}` : ''}${o.pointer ? ` ${o.pointer}` : ''}`;
}

/** A malformed input record (bad JSON line, CSV row, missing field): an error, or counted under onError: "skip". */
export class BadRecord extends PeftError {
  readonly reason: string;
  constructor(origin: Origin, reason: string, hint?: string) {
    super('E_DATA', `${where(origin)}: ${reason}`, { file: origin.file, line: origin.line, pointer: origin.pointer, hint });
    this.reason = reason;
  }
}

/** Collects bad records when onError is "skip"; rethrows them when it is "fail". */
export class BadRecordSink {
  readonly skipped: { where: string; reason: string }[] = [];
  count = 0;
  constructor(private readonly mode: 'fail' | 'skip') {}
  report(err: BadRecord): void {
    if (this.mode === 'fail') throw err;
    this.count++;
    if (this.skipped.length < 20) this.skipped.push({ where: err.message.slice(0, err.message.length - err.reason.length - 2), reason: err.reason });
  }
}
