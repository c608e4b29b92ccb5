// The line protocol between `peftmake run-stage` (on a compute node) and the build that watches its job: progress and
// log events are JSON on lines that start with a marker, written to the job's log; other lines are plain output.
import type { StageProgress } from '../../stage.ts';

export const EVENT_MARKER = '@peftmake ';

export type JobEvent = { t: 'progress'; p: StageProgress } | { t: 'log'; line: string };

export function encodeEvent(e: JobEvent): string {
  return `${EVENT_MARKER}${JSON.stringify(e)}\n`;
}

/** An event, or the line itself (output of Slurm or of the stage that did not go through the protocol). */
export function decodeLine(line: string): JobEvent {
  if (line.startsWith(EVENT_MARKER)) {
    try {
      const e = JSON.parse(line.slice(EVENT_MARKER.length)) as JobEvent;
      if (e && (e.t === 'progress' || e.t === 'log')) return e;
    } catch {
      // a torn or foreign line: shown as is
    }
  }
  return { t: 'log', line };
}

/** Splits appended log text into whole lines, keeping an unfinished last line for the next read. */
export class LineSplitter {
  private rest = '';
  push(text: string): string[] {
    const parts = (this.rest + text).split('\n');
    this.rest = parts.pop() ?? '';
    return parts;
  }
  flush(): string[] {
    const r = this.rest;
    this.rest = '';
    return r ? [r] : [];
  }
}
