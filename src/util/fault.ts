// Fault injection for the reliability tests (tests/faults/): PEFTMAKE_FAULT="<point>[@<n>]:<action>[,...]" makes the
// n-th (default first) call of faultPoint(<point>) SIGKILL the process (`kill`), throw a write error (`enospc`, `eio`)
// or block for a while (`sleep<ms>`, to widen a race window).
// Inert in production: with the variable unset, faultPoint() is one map lookup.

type Action = 'kill' | 'enospc' | 'eio' | `sleep${number}`;
interface Fault {
  nth: number;
  action: Action;
  seen: number;
}

function parse(spec: string | undefined): Map<string, Fault> {
  const out = new Map<string, Fault>();
  for (const part of (spec ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^([\w.-]+)(?:@(\d+))?:(kill|enospc|eio|sleep\d+)$/.exec(part);
    if (!m) throw new Error(`PEFTMAKE_FAULT: cannot parse "${part}" (expected <point>[@n]:kill|enospc|eio|sleep<ms>)`);
    out.set(m[1], { nth: m[2] ? Number(m[2]) : 1, action: m[3] as Action, seen: 0 });
  }
  return out;
}

const faults = parse(process.env.PEFTMAKE_FAULT);

/** A named point where the tests may inject a fault; `path` is the file being written (for the error). */
export function faultPoint(point: string, path?: string): void {
  if (faults.size === 0) return;
  const f = faults.get(point);
  if (!f || ++f.seen !== f.nth) return;
  if (f.action === 'kill') process.kill(process.pid, 'SIGKILL');
  if (f.action.startsWith('sleep')) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(f.action.slice(5)));
    return;
  }
  const code = f.action === 'enospc' ? 'ENOSPC' : 'EIO';
  const err = new Error(`${code}: ${f.action === 'enospc' ? 'no space left on device' : 'i/o error'}, write '${path ?? point}'`) as NodeJS.ErrnoException;
  err.code = code;
  err.syscall = 'write';
  if (path) err.path = path;
  throw err;
}
