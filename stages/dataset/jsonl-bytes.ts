// train.jsonl / valid.jsonl as bytes: ids written from a per-id table of ASCII digits straight into a buffer, the
// labels bytes copied when they are the ids themselves, the text JSON-escaped by JSON.stringify. The same bytes as
// the string `{"ids":[…],"labels":[…],"text":"…"}\n` per record, UTF-8 encoded, without building that string.
import { closeSync, openSync, writeSync } from 'node:fs';
import { PackedRecord } from './packed-record.ts';
import type { OutputRecord } from './output-record.ts';

const TABLE_LIMIT = 1 << 20; // ids below this come from the digits table (7 digits at most); others (and -100) via String()

const SURROGATE = /[\ud800-\udfff]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what JSON must escape
const ESCAPE = /["\\\u0000-\u001f]/g;
const SHORT_ESCAPES: Record<number, string> = { 34: '\\"', 92: '\\\\', 8: '\\b', 12: '\\f', 10: '\\n', 13: '\\r', 9: '\\t' };

class ByteWriter {
  buf: Buffer;
  pos = 0;

  /** `fd`: the file flush() writes to (a writer without one only grows); `spare`: a buffer to write into when it holds `capacity`. */
  constructor(
    capacity: number,
    readonly fd?: number,
    spare?: ArrayBuffer,
  ) {
    const size = Math.max(1 << 16, capacity);
    this.buf = spare && spare.byteLength >= size ? Buffer.from(spare) : Buffer.allocUnsafe(size);
  }

  /** Writes the bytes so far to the file and empties the buffer. */
  flush(): void {
    for (let at = 0; at < this.pos; ) at += writeSync(this.fd!, this.buf, at, this.pos - at);
    this.pos = 0;
  }

  reserve(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = Buffer.allocUnsafe(cap);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  private dv: DataView | undefined;

  /** A DataView of the current buffer (replaced when the buffer grows). */
  view(): DataView {
    if (this.dv?.buffer !== this.buf.buffer || this.dv.byteOffset !== this.buf.byteOffset || this.dv.byteLength !== this.buf.length)
      this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
    return this.dv;
  }

  ascii(s: string): void {
    this.reserve(s.length);
    for (let k = 0; k < s.length; k++) this.buf[this.pos++] = s.charCodeAt(k);
  }

  /** JSON.stringify(s), UTF-8, without building that string: the runs between characters to escape go straight in. */
  jsonString(s: string): void {
    if (SURROGATE.test(s)) return this.utf8(JSON.stringify(s)); // lone surrogates are escaped; JSON.stringify knows which
    this.ascii('"');
    let from = 0;
    ESCAPE.lastIndex = 0;
    for (let m = ESCAPE.exec(s); m; m = ESCAPE.exec(s)) {
      if (m.index > from) this.utf8(s.slice(from, m.index));
      const c = s.charCodeAt(m.index);
      this.ascii(SHORT_ESCAPES[c] ?? `\\u${c.toString(16).padStart(4, '0')}`);
      from = m.index + 1;
    }
    if (from < s.length) this.utf8(from === 0 ? s : s.slice(from));
    this.ascii('"');
  }

  /** `b`, the UTF-8 of JSON.stringify(s) without its quotes, in quotes. */
  jsonQuoted(b: Uint8Array): void {
    this.reserve(b.length + 2);
    this.buf[this.pos++] = 0x22;
    this.buf.set(b, this.pos);
    this.pos += b.length;
    this.buf[this.pos++] = 0x22;
  }

  utf8(s: string): void {
    if (this.pos + s.length * 3 > this.buf.length) this.reserve(Buffer.byteLength(s, 'utf8'));
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }
}

/** For ids below `size`: the ASCII of `${id},` packed little-endian into lo (bytes 0-3) and hi (bytes 4-7), and its length. */
class DigitTable {
  lo = new Uint32Array(0);
  hi = new Uint32Array(0);
  len = new Uint8Array(0);
  size = 0;
  perId = 2; // the most bytes a table id takes with its comma

  constructor(size: number) {
    this.build(size);
  }

  /** Grows the table to hold `id` (below TABLE_LIMIT). */
  grow(id: number): void {
    let size = this.size * 2;
    while (size <= id) size *= 2;
    this.build(Math.min(TABLE_LIMIT, size));
  }

  private build(size: number): void {
    const from = this.size;
    const lo = new Uint32Array(size);
    const hi = new Uint32Array(size);
    const len = new Uint8Array(size);
    lo.set(this.lo);
    hi.set(this.hi);
    len.set(this.len);
    for (let k = from; k < size; k++) {
      const s = `${k},`;
      let l = 0;
      let h = 0;
      for (let j = 0; j < s.length; j++) {
        if (j < 4) l |= s.charCodeAt(j) << (8 * j);
        else h |= s.charCodeAt(j) << (8 * (j - 4));
      }
      lo[k] = l >>> 0;
      hi[k] = h >>> 0;
      len[k] = s.length;
    }
    this.lo = lo;
    this.hi = hi;
    this.len = len;
    this.size = size;
    this.perId = String(size - 1).length + 1;
  }
}

/**
 * Writes ids joined by commas: each table id as one or two unaligned 32-bit stores of `${id},` (room for 8 bytes
 * kept past the end), the last comma dropped.
 */
function writeIds(w: ByteWriter, ids: ArrayLike<number>, table: DigitTable): void {
  if (ids.length === 0) return;
  w.reserve(ids.length * table.perId + 8);
  for (let k = 0; k < ids.length; ) {
    // The hot loop makes no calls (so the arrays' lengths and data stay in registers): it leaves at an id outside
    // the table, which is written (or the table grown) below.
    const { lo, hi, len, size } = table;
    const view = w.view();
    let pos = w.pos;
    for (; k < ids.length; k++) {
      const id = ids[k];
      if (!(id >= 0 && id < size && Number.isInteger(id))) break;
      view.setUint32(pos, lo[id], true);
      if (len[id] > 4) view.setUint32(pos + 4, hi[id], true);
      pos += len[id];
    }
    w.pos = pos;
    if (k === ids.length) break;
    const id = ids[k];
    if (id >= 0 && id < TABLE_LIMIT && Number.isInteger(id))
      table.grow(id); // written from the grown table
    else {
      w.ascii(`${id},`);
      k++;
    }
    w.reserve((ids.length - k) * table.perId + 8);
  }
  w.pos--; // the last comma
}

/**
 * Writes the records' lines into `w`; a writer to a file is flushed between records when the next one may not fit
 * its buffer, so the buffer stays one size however long the output.
 */
function writeRecords(records: readonly OutputRecord[], w: ByteWriter): void {
  const toFile = w.fd !== undefined;
  const table = new DigitTable(1024);
  for (const r of records) {
    const packed = r instanceof PackedRecord;
    const ids = packed ? r.idView : r.ids;
    const utf8 = packed ? r.textJsonUtf8() : undefined; // a view of the decoder's buffer, read before its next decode
    const enc = packed ? undefined : r.enc;
    const bound = 48 + (ids.length * 2 + (enc?.length ?? 0)) * table.perId + (utf8 ? utf8.length + 2 : 3 * r.text.length + 2); // escapes reserve more
    if (toFile && w.pos + bound > w.buf.length) w.flush();
    w.reserve(bound);
    w.ascii('{"ids":[');
    const idsAt = w.pos;
    writeIds(w, ids, table);
    const idsEnd = w.pos;
    w.ascii('],"labels":[');
    if (packed || r.labels === r.ids) {
      // text format: labels are the ids themselves
      w.reserve(idsEnd - idsAt);
      w.buf.copyWithin(w.pos, idsAt, idsEnd);
      w.pos += idsEnd - idsAt;
    } else writeIds(w, r.labels, table);
    if (enc) {
      w.ascii('],"enc":[');
      writeIds(w, enc, table);
    }
    w.ascii('],"text":');
    if (utf8) w.jsonQuoted(utf8);
    else w.jsonString(r.text);
    w.ascii('}\n');
  }
}

/** The JSONL bytes of `records`, written into `spare` where it is large enough (a view of it: the caller's to reuse), else into a buffer of their own. */
export function jsonlBytes(records: readonly OutputRecord[], spare?: ArrayBuffer): Buffer {
  let estimate = 8; // enough for most outputs in one allocation (the text is usually ASCII); reserve() grows otherwise
  for (const r of records) {
    const n = r instanceof PackedRecord ? r.idView.length : r.ids.length;
    const chars = r instanceof PackedRecord ? (r.knownTextLength() ?? 3 * n) : r.text.length; // a token's text: a few bytes
    estimate += 48 + 10 * n + chars + (chars >> 3);
  }
  const w = new ByteWriter(estimate, undefined, spare);
  writeRecords(records, w);
  return w.buf.subarray(0, w.pos);
}

const CHUNK = 1 << 18;

/** Writes the JSONL of `records` to `file` (the bytes of jsonlBytes) through one small buffer that stays in the CPU cache. */
export function writeJsonlFile(file: string, records: readonly OutputRecord[]): void {
  const fd = openSync(file, 'w');
  try {
    const w = new ByteWriter(CHUNK, fd);
    writeRecords(records, w);
    w.flush();
  } finally {
    closeSync(fd);
  }
}
