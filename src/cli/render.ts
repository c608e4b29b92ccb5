// Human rendering of builds: one line per stage (action, version, time, reasons), live output of commands, and
// progress (a redrawn bar on a TTY, throttled plain lines otherwise). Nothing goes to stdout under --json.
import type { StageProgress } from '../stage.ts';
import { formatReason } from '../store/reasons.ts';
import type { BuildReport, Reporter, StageOutcome } from '../exec/reporter.ts';

const MARK: Record<string, string> = { built: '✓', restored: '↺', fresh: '·', failed: '✗', skipped: '-' };

export function formatSeconds(s: number): string {
  return s < 10 ? `${s.toFixed(2)}s` : s < 120 ? `${s.toFixed(1)}s` : `${Math.floor(s / 60)}m${Math.round(s % 60)}s`;
}

export function outcomeLine(o: StageOutcome, status = false): string {
  const action = status
    ? (({ built: 'would build', restored: 'would restore', fresh: 'fresh', failed: 'cannot build', skipped: 'blocked' } as Record<string, string>)[o.action] ??
      o.action)
    : o.action;
  const mark = status && o.action === 'built' ? '*' : (MARK[o.action] ?? ' ');
  const parts = [`${mark} ${o.name}`, action];
  if (o.version !== null) parts.push(`v${o.version}`);
  if (!status && o.action !== 'fresh' && o.action !== 'skipped') parts.push(formatSeconds(o.seconds));
  if (o.pinned) parts.push(o.stale ? 'pinned (stale: its inputs say otherwise)' : 'pinned');
  let line = parts.join('  ');
  if (o.reasons.length && o.action !== 'fresh') {
    const shown = o.reasons.slice(0, 3).map(formatReason).join(', ');
    line += `  (${shown}${o.reasons.length > 3 ? `, +${o.reasons.length - 3} more` : ''})`;
  }
  if (o.error) line += `\n    ${o.error.split('\n').join('\n    ')}`;
  if (o.summary) line += `  ${o.summary}`;
  return line;
}

export function summaryLine(r: BuildReport): string {
  const count = (a: string): number => r.stages.filter((s) => s.action === a).length;
  const parts = ['built', 'restored', 'fresh', 'failed', 'skipped'].filter((a) => count(a) > 0).map((a) => `${count(a)} ${a}`);
  return `${r.ok ? 'ok' : 'FAILED'}: ${parts.join(', ') || 'nothing to do'}`;
}

function bar(p: StageProgress, width = 24): string {
  if (!p.total) return '';
  const f = Math.max(0, Math.min(1, (p.step ?? 0) / p.total));
  const n = Math.round(f * width);
  return `[${'#'.repeat(n)}${'.'.repeat(width - n)}] ${p.step ?? 0}/${p.total}${p.unit ? ` ${p.unit}` : ''}`;
}

export function progressText(name: string, p: StageProgress): string {
  const metrics = Object.entries(p.metrics ?? {})
    .map(([k, v]) => `${k}=${Number.isInteger(v) ? v : v.toPrecision(4)}`)
    .join(' ');
  return [name, bar(p), p.message ?? '', metrics].filter(Boolean).join('  ');
}

export class HumanReporter implements Reporter {
  private live = '';
  private lastPlain = new Map<string, number>();
  private running = new Map<string, { since: number; progressed: boolean }>();
  private ticker: NodeJS.Timeout | undefined;
  constructor(
    private readonly out: NodeJS.WriteStream = process.stdout,
    private readonly tty = Boolean(process.stdout.isTTY),
    /** How often a stage that reports no progress gets a "still running" line (TTY: redrawn each second). */
    private readonly tickMs = tty ? 1000 : 30_000,
  ) {}

  /** Long stages that report no progress of their own still show that they are alive, with elapsed time. */
  private tick(): void {
    const quiet = [...this.running].filter(([, r]) => !r.progressed);
    if (!quiet.length) return;
    const now = Date.now();
    const text = quiet.map(([n, r]) => `${n} running ${formatSeconds((now - r.since) / 1000)}`).join(' | ');
    if (this.tty) {
      this.live = text.slice(0, (this.out.columns ?? 100) - 1);
      this.out.write(`\r\x1b[2K${this.live}`);
    } else this.out.write(`  ${text}\n`);
  }

  private clearLive(): void {
    if (this.tty && this.live) {
      this.out.write('\r\x1b[2K');
      this.live = '';
    }
  }
  stageStart(name: string, action: 'built' | 'restored'): void {
    if (!this.tty) this.out.write(`> ${name}: ${action === 'built' ? 'building' : 'restoring'}\n`);
    this.running.set(name, { since: Date.now(), progressed: false });
    if (!this.ticker) {
      this.ticker = setInterval(() => this.tick(), this.tickMs);
      this.ticker.unref();
    }
  }
  progress(name: string, p: StageProgress): void {
    const r = this.running.get(name);
    if (r) r.progressed = true;
    const text = progressText(name, p);
    if (this.tty) {
      this.live = text.slice(0, (this.out.columns ?? 100) - 1);
      this.out.write(`\r\x1b[2K${this.live}`);
      return;
    }
    const now = Date.now();
    const done = p.total !== undefined && p.step === p.total;
    if (done || now - (this.lastPlain.get(name) ?? 0) >= 2000) {
      this.lastPlain.set(name, now);
      this.out.write(`  ${text}\n`);
    }
  }
  log(name: string, line: string): void {
    this.clearLive();
    this.out.write(`  [${name}] ${line}\n`);
  }
  stageEnd(o: StageOutcome): void {
    this.running.delete(o.name);
    if (this.running.size === 0 && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = undefined;
    }
    this.clearLive();
    this.out.write(`${outcomeLine(o)}\n`);
  }
}

/** Under --json: command output goes to stderr, progress nowhere, stdout stays one JSON object. */
export class JsonModeReporter implements Reporter {
  stageStart(): void {}
  progress(): void {}
  log(name: string, line: string): void {
    process.stderr.write(`[${name}] ${line}\n`);
  }
  stageEnd(): void {}
}
