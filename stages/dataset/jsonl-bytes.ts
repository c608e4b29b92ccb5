// train.jsonl / valid.jsonl as bytes: ids written from a per-id table of ASCII digits straight into one buffer, the
// labels bytes copied when they are the ids themselves, the text JSON-escaped by JSON.stringify. The same bytes as
// the string `{"ids":[…],"labels":[…],"text":"…"}\n` per record, UTF-8 encoded, without building that string.
import { PackedRecord } from './packed-record.ts';
import type { OutputRecord } from './prepare.ts';

const TABLE_LIMIT = 1 << 20; // ids below this come from the digits table (7 digits at most); others (and -100) via String()

const SURROGATE = /[\ud800-\udfff]/;
const ESCAPE = /["\\\u0000-\u001f]/g;
const SHORT_ESCAPES: Record<number, string> = { 34: '\\"', 92: '\\\\', 8: '\\b', 12: '\\f', 10: '\\n', 13: '\\r', 9: '\\t' };

/** The JSON escape of each byte that needs one ('"', '\\', U+0000-U+001F), as JSON.stringify writes it. */
const ESCAPED_BYTE: string[] = Array.from({ length: 0x60 }, (_, c) => (c < 0x20 || c === 0x22 || c === 0x5c ? JSON.stringify(String.fromCharCode(c)).slice(1, -1) : ''));

class ByteWriter {
  buf: Buffer;
  pos = 0;

  constructor(capacity: number) {
    this.buf = Buffer.allocUnsafe(Math.max(1 << 16, capacity));
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

  /** JSON.stringify of the string whose well-formed UTF-8 is `b`, UTF-8 encoded: `b` with '"', '\\' and controls escaped. */
  jsonUtf8(b: Uint8Array): void {
    this.reserve(b.length + 2);
    let buf = this.buf;
    let pos = this.pos;
    buf[pos++] = 0x22;
    for (let k = 0; k < b.length; k++) {
      const c = b[k];
      if (c >= 0x23 ? c !== 0x5c : c >= 0x20 && c !== 0x22) {
        buf[pos++] = c;
        continue;
      }
      const esc = ESCAPED_BYTE[c];
      this.pos = pos;
      this.reserve(esc.length + b.length - k + 1);
      buf = this.buf;
      for (let j = 0; j < esc.length; j++) buf[pos++] = esc.charCodeAt(j);
    }
    buf[pos++] = 0x22;
    this.pos = pos;
  }

  utf8(s: string): void {
    if (this.pos + s.length * 3 > this.buf.length) this.reserve(Buffer.byteLength(s, 'utf8'));
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }
}

/** For ids 0..max-1: the ASCII of `${id},` packed little-endian into lo (bytes 0-3) and hi (bytes 4-7), and its length. */
interface DigitTable {
  lo: Uint32Array;
  hi: Uint32Array;
  len: Uint8Array;
}

function digitTable(max: number): DigitTable {
  const t = { lo: new Uint32Array(max), hi: new Uint32Array(max), len: new Uint8Array(max) };
  for (let k = 0; k < max; k++) {
    const s = `${k},`;
    let lo = 0;
    let hi = 0;
    for (let j = 0; j < s.length; j++) {
      if (j < 4) lo |= s.charCodeAt(j) << (8 * j);
      else hi |= s.charCodeAt(j) << (8 * (j - 4));
    }
    t.lo[k] = lo >>> 0;
    t.hi[k] = hi >>> 0;
    t.len[k] = s.length;
  }
  return t;
}

/**
 * Writes ids joined by commas: each table id as one or two unaligned 32-bit stores of `${id},` (room for 8 bytes
 * kept past the end), the last comma dropped. `perId`: the most bytes a table id takes with its comma.
 */
function writeIds(w: ByteWriter, ids: ArrayLike<number>, table: DigitTable, limit: number, perId: number): void {
  if (ids.length === 0) return;
  w.reserve(ids.length * perId + 8);
  const { lo, hi, len } = table;
  let view = w.view();
  let pos = w.pos;
  for (let k = 0; k < ids.length; k++) {
    const id = ids[k];
    if (id >= 0 && id < limit && Number.isInteger(id)) {
      view.setUint32(pos, lo[id], true);
      if (len[id] > 4) view.setUint32(pos + 4, hi[id], true);
      pos += len[id];
    } else {
      w.pos = pos;
      w.ascii(`${id},`);
      w.reserve((ids.length - k) * perId + 8);
      view = w.view();
      pos = w.pos;
    }
  }
  w.pos = pos - 1;
}

export function jsonlBytes(records: readonly OutputRecord[]): Buffer {
  let max = 0;
  const idsOf = (r: OutputRecord): ArrayLike<number> => (r instanceof PackedRecord ? r.idView : r.ids);
  for (const r of records) {
    const ids = idsOf(r);
    for (let k = 0; k < ids.length; k++) if (ids[k] > max && ids[k] < TABLE_LIMIT) max = ids[k];
  }
  const limit = Math.min(TABLE_LIMIT, max + 1);
  const table = digitTable(limit);
  const perId = String(Math.max(0, limit - 1)).length + 1;
  let estimate = 8; // enough for most outputs in one allocation (the text is usually ASCII); reserve() grows otherwise
  for (const r of records) {
    const n = idsOf(r).length;
    const chars = r instanceof PackedRecord ? (r.knownTextLength() ?? 3 * n) : r.text.length; // a token's text: a few bytes
    estimate += 48 + perId * 2 * n + chars + (chars >> 3);
  }
  const w = new ByteWriter(estimate);
  for (const r of records) {
    w.ascii('{"ids":[');
    const idsAt = w.pos;
    const packed = r instanceof PackedRecord;
    writeIds(w, idsOf(r), table, limit, perId);
    const idsEnd = w.pos;
    w.ascii('],"labels":[');
    if (packed || r.labels === r.ids) {
      // text format: labels are the ids themselves
      w.reserve(idsEnd - idsAt);
      w.buf.copyWithin(w.pos, idsAt, idsEnd);
      w.pos += idsEnd - idsAt;
    } else writeIds(w, r.labels, table, limit, perId);
    w.ascii('],"text":');
    const utf8 = packed ? r.textUtf8() : undefined;
    if (utf8) w.jsonUtf8(utf8);
    else w.jsonString(r.text);
    w.ascii('}\n');
  }
  return w.buf.subarray(0, w.pos);
}
