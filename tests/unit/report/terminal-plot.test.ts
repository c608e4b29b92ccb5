// The terminal plot: braille dots where the line runs, markers where points are, y labels at min / max.
import { describe, expect, it } from 'vitest';
import { terminalPlot } from '../../../src/report/terminal-plot.ts';

const cells = (line: string) => [...line.slice(line.indexOf('┤') + 1)];

describe('terminalPlot', () => {
  it('a falling line runs from the top-left dot to the bottom-right dot', () => {
    const lines = terminalPlot(
      [
        {
          points: [
            { x: 0, y: 4 },
            { x: 10, y: 1 },
          ],
        },
      ],
      { width: 10, height: 4 },
    );
    expect(lines).toHaveLength(6); // 4 rows, axis, x range
    expect(lines[0].startsWith('4 ┤')).toBe(true);
    expect(lines[3].startsWith('1 ┤')).toBe(true);
    const first = cells(lines[0])[0].codePointAt(0)! - 0x2800;
    const last = cells(lines[3])[9].codePointAt(0)! - 0x2800;
    expect(first & 0x01).toBe(0x01); // top-left dot of the first cell
    expect(last & 0x80).toBe(0x80); // bottom-right dot of the last cell
    expect(cells(lines[3])[0]).toBe('\u2800'); // nothing bottom-left
    expect(lines[5]).toMatch(/^\s+0\s+10$/);
  });

  it('marker series put their character in the cell of each point; non-finite points are left out', () => {
    const lines = terminalPlot(
      [
        {
          points: [
            { x: 0, y: 0 },
            { x: 1, y: 1 },
          ],
        },
        {
          points: [
            { x: 1, y: 0 },
            { x: Number.NaN, y: 3 },
          ],
          mark: '◆',
        },
      ],
      { width: 8, height: 3 },
    );
    expect(cells(lines[2])[7]).toBe('◆');
    expect(lines.join('').split('◆')).toHaveLength(2);
  });

  it('says so when there is nothing to plot', () => {
    expect(terminalPlot([{ points: [] }])).toEqual(['(no points to plot)']);
  });
});
