// Human build output: stage lines with action, version, time and reasons; progress as throttled plain lines
// when not a TTY and as a redrawn bar on a TTY.
import { describe, expect, it } from 'vitest';
import { HumanReporter, outcomeLine, progressText, summaryLine } from '../../../src/cli/render.ts';

function sink(): { stream: NodeJS.WriteStream; text: () => string } {
  let buf = '';
  const stream = { write: (s: string) => ((buf += s), true), columns: 60 } as unknown as NodeJS.WriteStream;
  return { stream, text: () => buf };
}

describe('render', () => {
  it('formats outcome lines and the summary', () => {
    const o = {
      name: 'stages.a',
      kind: 'command',
      action: 'built' as const,
      version: 3,
      key: 'k',
      reasons: [{ type: 'dep-modified' as const, path: 'a.txt' }],
      seconds: 1.234,
    };
    expect(outcomeLine(o)).toBe('✓ stages.a  built  v3  1.23s  (dep-modified a.txt)');
    expect(outcomeLine(o, true)).toBe('* stages.a  would build  v3  (dep-modified a.txt)');
    expect(outcomeLine({ ...o, action: 'fresh', reasons: [], pinned: true, stale: true })).toBe(
      '· stages.a  fresh  v3  pinned (stale: its inputs say otherwise)',
    );
    expect(outcomeLine({ ...o, action: 'failed', version: null, error: 'boom' })).toBe('✗ stages.a  failed  1.23s  (dep-modified a.txt)\n    boom');
    expect(summaryLine({ ok: false, stages: [o, { ...o, action: 'failed' }, { ...o, action: 'skipped' }] })).toBe('FAILED: 1 built, 1 failed, 1 skipped');
  });

  it('renders progress with a bar and metrics', () => {
    expect(progressText('adapters.a', { step: 5, total: 10, unit: 'step', metrics: { loss: 2.345678, tokens_per_s: 100 } })).toBe(
      'adapters.a  [############............] 5/10 step  loss=2.346 tokens_per_s=100',
    );
  });

  it('prints plain progress lines at most every 2 s (and the last one) when not a TTY', () => {
    const s = sink();
    const r = new HumanReporter(s.stream, false);
    r.stageStart('adapters.a', 'built');
    for (let i = 1; i <= 10; i++) r.progress('adapters.a', { step: i, total: 10 });
    r.log('adapters.a', 'hello');
    expect(s.text().split('\n')).toEqual([
      '> adapters.a: building',
      '  adapters.a  [##......................] 1/10',
      '  adapters.a  [########################] 10/10',
      '  [adapters.a] hello',
      '',
    ]);
  });

  it('redraws one live line on a TTY and clears it before other output', () => {
    const s = sink();
    const r = new HumanReporter(s.stream, true);
    r.progress('x', { step: 1, total: 2 });
    r.progress('x', { step: 2, total: 2 });
    r.stageEnd({ name: 'x', kind: 'k', action: 'built', version: 1, key: 'k', reasons: [], seconds: 0.5 });
    expect(s.text()).toBe('\r\x1b[2Kx  [############............] 1/2\r\x1b[2Kx  [########################] 2/2\r\x1b[2K✓ x  built  v1  0.50s\n');
  });

  it('shows a stage that reports no progress as still running, then stops when it ends', async () => {
    const s = sink();
    const r = new HumanReporter(s.stream, false, 20);
    r.stageStart('stages.slow', 'built');
    await new Promise((res) => setTimeout(res, 70));
    r.stageEnd({ name: 'stages.slow', kind: 'command', action: 'built', version: 1, key: 'k', reasons: [], seconds: 0.07 });
    const lines = s.text().split('\n');
    expect(lines[0]).toBe('> stages.slow: building');
    expect(lines[1]).toMatch(/^ {2}stages\.slow running 0\.\d\ds$/);
    const after = s.text().length;
    await new Promise((res) => setTimeout(res, 60));
    expect(s.text().length).toBe(after);
  });
});
