// Human output of `peftmake doctor`: aligned "marker label  value" lines, the fix under each problem, a summary.
import type { Check } from './diagnose.ts';

const MARK = { ok: '✓', warn: '!', info: '·' } as const;

export function renderChecks(checks: Check[]): string {
  const width = Math.max(...checks.map((c) => c.label.length));
  const lines: string[] = [];
  for (const c of checks) {
    lines.push(`${MARK[c.status]} ${c.label.padEnd(width)}  ${c.value}`);
    if (c.status === 'warn' && c.fix) lines.push(`  ${' '.repeat(width)}  fix: ${c.fix}`);
    else if (c.note) lines.push(`  ${' '.repeat(width)}  ${c.note}`);
  }
  const problems = checks.filter((c) => c.status === 'warn').length;
  lines.push('', problems ? `${problems} problem(s) found (marked !)` : 'no problems found');
  return `${lines.join('\n')}\n`;
}
