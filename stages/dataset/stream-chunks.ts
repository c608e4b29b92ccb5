// A text file read in chunks of about CHUNK_BYTES for the streamed path: each chunk ends where a document may end
// (after a "\n"; in paragraph mode before a blank line), so no document spans two chunks; `file` mode: the whole
// file is one document, one chunk. Only a chunk and the next read are in memory at a time.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

export const CHUNK_BYTES = 1 << 20;

/** Whether bytes [a, b) of `buf` are a blank line (only what String.prototype.trim removes). */
function blankLine(buf: Buffer, a: number, b: number): boolean {
  for (let k = a; k < b; k++) {
    const c = buf[k];
    if (c === 32 || (c >= 9 && c <= 13)) continue;
    if (c < 0x80) return false;
    return buf.toString('utf8', a, b).trim() === ''; // U+00A0, U+2000-U+200A, U+3000, ... (rare)
  }
  return true;
}

/**
 * Where the chunk [0, end) of `buf[0, len)` may end at or after `from`: the start of a line (paragraph mode: of a
 * blank line); -1 when `buf[0, len)` has no such place (read more, or at the end of the file take it all).
 */
export function cutPoint(buf: Buffer, from: number, len: number, mode: 'paragraph' | 'line'): number {
  let nl = buf.indexOf(10, from);
  while (nl >= 0 && nl < len) {
    if (mode === 'line') return nl + 1;
    const next = buf.indexOf(10, nl + 1);
    const lineEnd = next >= 0 && next < len ? next : -1;
    if (lineEnd < 0) return -1; // the next line is not all here: decide once it is
    if (blankLine(buf, nl + 1, lineEnd)) return nl + 1;
    nl = lineEnd;
  }
  return -1;
}

/** The chunks of `path` in order (each a fresh buffer the caller may transfer to a worker). */
export function* textChunks(path: string, mode: 'file' | 'paragraph' | 'line', chunkBytes = CHUNK_BYTES): Generator<Uint8Array> {
  const fd = openSync(path, 'r');
  try {
    if (mode === 'file') {
      const size = fstatSync(fd).size;
      const all = new Uint8Array(size);
      for (let at = 0; at < size; ) {
        const n = readSync(fd, all, at, size - at, null);
        if (n === 0) break;
        at += n;
      }
      yield all;
      return;
    }
    let buf = Buffer.allocUnsafeSlow(2 * chunkBytes);
    let len = 0;
    let eof = false;
    while (!eof || len > 0) {
      if (!eof && len < buf.length) {
        const n = readSync(fd, buf, len, buf.length - len, null);
        if (n === 0) eof = true;
        len += n;
      }
      let cut = len >= chunkBytes || eof ? cutPoint(buf, Math.min(chunkBytes, len) - 1, len, mode) : -1;
      if (cut < 0 && eof) cut = len;
      if (cut < 0) {
        if (len === buf.length) {
          // no place to cut yet (a long paragraph): a bigger buffer
          const bigger = Buffer.allocUnsafeSlow(buf.length * 2);
          buf.copy(bigger, 0, 0, len);
          buf = bigger;
        }
        continue;
      }
      const chunk = new Uint8Array(cut);
      chunk.set(buf.subarray(0, cut));
      buf.copy(buf, 0, cut, len);
      len -= cut;
      yield chunk;
    }
  } finally {
    closeSync(fd);
  }
}
