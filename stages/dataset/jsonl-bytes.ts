// train.jsonl / valid.jsonl as bytes: ids written from a per-id table of ASCII digits straight into one buffer, the
// labels bytes copied when they are the ids themselves, the text JSON-escaped by JSON.stringify. The same bytes as
// the string `{"ids":[…],"labels":[…],"text":"…"}\n` per record, UTF-8 encoded, without building that string.
import type { OutputRecord } from './prepare.ts';

const TABLE_LIMIT = 1 << 20; // ids below this come from the digits table; others (and negatives like -100) via String()

class ByteWriter {
  buf = Buffer.allocUnsafe(1 << 16);
  pos = 0;

  reserve(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = Buffer.allocUnsafe(cap);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  ascii(s: string): void {
    this.reserve(s.length);
    for (let k = 0; k < s.length; k++) this.buf[this.pos++] = s.charCodeAt(k);
  }

  utf8(s: string): void {
    this.reserve(s.length * 3);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }
}

/** Digits of 0..max-1, back to back: id k is digits[start[k] .. start[k + 1]). */
function digitTable(max: number): { digits: Uint8Array; start: Int32Array } {
  const start = new Int32Array(max + 1);
  let len = 0;
  for (let k = 0; k < max; k++) {
    start[k] = len;
    len += k < 10 ? 1 : k < 100 ? 2 : k < 1000 ? 3 : k < 10000 ? 4 : k < 100000 ? 5 : k < 1000000 ? 6 : 7;
  }
  start[max] = len;
  const digits = new Uint8Array(len);
  for (let k = 0; k < max; k++) {
    const s = String(k);
    for (let j = 0; j < s.length; j++) digits[start[k] + j] = s.charCodeAt(j);
  }
  return { digits, start };
}

function writeIds(w: ByteWriter, ids: readonly number[], table: { digits: Uint8Array; start: Int32Array }, limit: number): void {
  w.reserve(ids.length * 8);
  const { digits, start } = table;
  const buf = w.buf;
  let pos = w.pos;
  for (let k = 0; k < ids.length; k++) {
    if (k > 0) buf[pos++] = 44; // ','
    const id = ids[k];
    if (id >= 0 && id < limit && Number.isInteger(id)) {
      for (let j = start[id], e = start[id + 1]; j < e; j++) buf[pos++] = digits[j];
    } else {
      w.pos = pos;
      w.ascii(String(id));
      pos = w.pos;
    }
  }
  w.pos = pos;
}

export function jsonlBytes(records: readonly OutputRecord[]): Buffer {
  let max = 0;
  for (const r of records) for (const id of r.ids) if (id > max && id < TABLE_LIMIT) max = id;
  const limit = Math.min(TABLE_LIMIT, max + 1);
  const table = digitTable(limit);
  const w = new ByteWriter();
  for (const r of records) {
    w.ascii('{"ids":[');
    const idsAt = w.pos;
    writeIds(w, r.ids, table, limit);
    const idsEnd = w.pos;
    w.ascii('],"labels":[');
    if (r.labels === r.ids) {
      // text format: labels are the ids themselves
      w.reserve(idsEnd - idsAt);
      w.buf.copy(w.buf, w.pos, idsAt, idsEnd);
      w.pos += idsEnd - idsAt;
    } else writeIds(w, r.labels, table, limit);
    w.ascii('],"text":');
    w.utf8(JSON.stringify(r.text));
    w.ascii('}\n');
  }
  return w.buf.subarray(0, w.pos);
}
