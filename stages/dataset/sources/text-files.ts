// .txt / .md / .raw files as documents: one per file, per blank-line separated paragraph, or per non-empty line.
import type { RawRecord } from '../records.ts';

export function readTextDocuments(text: string, file: string, mode: 'file' | 'paragraph' | 'line'): RawRecord[] {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (mode === 'file') return body.trim() === '' ? [] : [{ fields: { text: body }, origin: { file, line: 1 } }];
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
