// .txt / .md / .raw files as documents: one per file, per blank-line separated paragraph, or per non-empty line.
import type { RawRecord } from '../records.ts';

export function readTextDocuments(text: string, file: string, mode: 'file' | 'paragraph' | 'line'): RawRecord[] {
  return textDocuments(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text, file, mode);
}

/**
 * The documents of `body` (a whole file without its BOM, or a piece of one that starts a line and, in paragraph
 * mode, ends at a paragraph's end: the streamed path's chunks); lines numbered from 1 at the body's start.
 */
export function textDocuments(body: string, file: string, mode: 'file' | 'paragraph' | 'line'): RawRecord[] {
  if (mode === 'file') return body.trim() === '' ? [] : [{ fields: { text: body }, origin: { file, line: 1 } }];
  if (mode === 'paragraph' && !body.includes('\r')) return paragraphsOf(body, file);
  const lines = body.split(/\r?\n/);
  const out: RawRecord[] = [];
  if (mode === 'line') {
    lines.forEach((l, k) => {
      if (l.trim() !== '') out.push({ fields: { text: l }, origin: { file, line: k + 1 } });
    });
    return out;
  }
  let start = -1;
  let buf: string[] = [];
  const flush = () => {
    if (buf.length) out.push({ fields: { text: buf.join('\n') }, origin: { file, line: start + 1 } });
    buf = [];
  };
  lines.forEach((l, k) => {
    if (l.trim() === '') flush();
    else {
      if (!buf.length) start = k;
      buf.push(l);
    }
  });
  flush();
  return out;
}

/** The characters String.prototype.trim removes (WhiteSpace and LineTerminator). */
function isTrimmed(c: number): boolean {
  return (
    c === 32 ||
    (c >= 9 && c <= 13) ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

/**
 * Paragraph mode for text with "\n" line ends only: each paragraph is a slice of the body (the same string as its
 * lines joined by "\n") found by scanning, without an array of lines.
 */
function paragraphsOf(body: string, file: string): RawRecord[] {
  const out: RawRecord[] = [];
  let start = -1; // offset of the paragraph's first line
  let end = 0; // end of its last line so far
  let firstLine = 0;
  for (let pos = 0, line = 0; pos <= body.length; line++) {
    let nl = body.indexOf('\n', pos);
    if (nl < 0) nl = body.length;
    let blank = true;
    for (let i = pos; i < nl; i++)
      if (!isTrimmed(body.charCodeAt(i))) {
        blank = false;
        break;
      }
    if (!blank) {
      if (start < 0) {
        start = pos;
        firstLine = line;
      }
      end = nl;
    } else if (start >= 0) {
      out.push({ fields: { text: body.slice(start, end) }, origin: { file, line: firstLine + 1 } });
      start = -1;
    }
    pos = nl + 1;
  }
  if (start >= 0) out.push({ fields: { text: body.slice(start, end) }, origin: { file, line: firstLine + 1 } });
  return out;
}
