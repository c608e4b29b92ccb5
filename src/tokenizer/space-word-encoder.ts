// Encoding for SentencePiece-style BPE (normalizer Prepend "▁" + Replace " " → "▁", a split before each "▁") done
// straight on the raw text: a word is a run of non-spaces with the count of "▁" marks before it (1 + the extra
// spaces; the first word gets the prepended one), and each distinct (marks, word) is run through BPE once. The cache
// is an open-addressing hash table over the word's characters in the text, so a hit allocates nothing.
import type { IdBuffer } from './id-buffer.ts';

const SP = '\u2581';
const MAX_ENTRIES = 1 << 19; // the cache is cleared past this many distinct words (bounded memory; output unchanged)

export class SpaceWordEncoder {
  private slots!: Int32Array; // entry index + 1, 0 = empty
  private mask!: number;
  // Per entry (stride 6): hash, key start in keyPool, key length, marks, ids start in idPool, ids count.
  private entries!: Int32Array;
  private count!: number;
  private keyPool!: Uint16Array;
  private keyUsed!: number;
  private idPool!: Int32Array;
  private idUsed!: number;

  constructor(private readonly encodeWord: (word: string) => number[]) {
    this.clear();
  }

  private clear(): void {
    this.slots = new Int32Array(1 << 16);
    this.mask = (1 << 16) - 1;
    this.entries = new Int32Array(6 * 8192);
    this.count = 0;
    this.keyPool = new Uint16Array(1 << 16);
    this.keyUsed = 0;
    this.idPool = new Int32Array(1 << 16);
    this.idUsed = 0;
  }

  /** Appends the ids of `text` (which contains no "▁") to `out`. */
  encodeTo(text: string, out: IdBuffer): void {
    const n = text.length;
    if (n === 0) return;
    let marks = 1;
    let i = 0;
    while (i < n) {
      let c = text.charCodeAt(i);
      if (c === 32) {
        marks++;
        i++;
        continue;
      }
      const start = i;
      let h = Math.imul(marks, 0x9e3779b1) ^ 0x811c9dc5;
      for (;;) {
        h = Math.imul(h ^ c, 0x01000193);
        if (++i === n) break;
        c = text.charCodeAt(i);
        if (c === 32) break;
      }
      this.emit(text, start, i, marks, h, out);
      marks = 0;
    }
    if (marks > 0) this.emit(text, n, n, marks, Math.imul(marks, 0x9e3779b1) ^ 0x811c9dc5, out);
  }

  private emit(text: string, start: number, end: number, marks: number, hash: number, out: IdBuffer): void {
    const len = end - start;
    const entries = this.entries;
    const keys = this.keyPool;
    let slot = (hash ^ (hash >>> 15)) & this.mask;
    for (;;) {
      const e = this.slots[slot];
      if (e === 0) break;
      const b = (e - 1) * 6;
      if (entries[b] === hash && entries[b + 2] === len && entries[b + 3] === marks) {
        const ks = entries[b + 1];
        let k = 0;
        while (k < len && keys[ks + k] === text.charCodeAt(start + k)) k++;
        if (k === len) {
          const is = entries[b + 4];
          const ic = entries[b + 5];
          let at = out.length;
          if (at + ic > out.data.length) out.reserve(ic);
          const dst = out.data;
          const src = this.idPool;
          for (let j = 0; j < ic; j++) dst[at++] = src[is + j];
          out.length = at;
          return;
        }
      }
      slot = (slot + 1) & this.mask;
    }
    const ids = this.encodeWord(SP.repeat(marks) + text.slice(start, end));
    out.pushArray(ids);
    this.insert(text, start, len, marks, hash, ids, slot);
  }

  private insert(text: string, start: number, len: number, marks: number, hash: number, ids: number[], slot: number): void {
    if (this.count >= MAX_ENTRIES) {
      this.clear();
      return; // the next occurrence re-inserts it
    }
    if (this.keyUsed + len > this.keyPool.length) this.keyPool = grow16(this.keyPool, this.keyUsed + len);
    if (this.idUsed + ids.length > this.idPool.length) this.idPool = grow32(this.idPool, this.idUsed + ids.length);
    if (6 * (this.count + 1) > this.entries.length) this.entries = grow32(this.entries, 6 * (this.count + 1));
    const ks = this.keyUsed;
    for (let k = 0; k < len; k++) this.keyPool[ks + k] = text.charCodeAt(start + k);
    this.keyUsed += len;
    const is = this.idUsed;
    for (let k = 0; k < ids.length; k++) this.idPool[is + k] = ids[k];
    this.idUsed += ids.length;
    const b = 6 * this.count;
    const e = this.entries;
    e[b] = hash;
    e[b + 1] = ks;
    e[b + 2] = len;
    e[b + 3] = marks;
    e[b + 4] = is;
    e[b + 5] = ids.length;
    this.slots[slot] = ++this.count;
    if (this.count * 2 > this.mask) this.rehash();
  }

  private rehash(): void {
    const size = (this.mask + 1) * 2;
    this.slots = new Int32Array(size);
    this.mask = size - 1;
    for (let e = 0; e < this.count; e++) {
      const hash = this.entries[6 * e];
      let slot = (hash ^ (hash >>> 15)) & this.mask;
      while (this.slots[slot] !== 0) slot = (slot + 1) & this.mask;
      this.slots[slot] = e + 1;
    }
  }
}

function grow16(a: Uint16Array, need: number): Uint16Array {
  let cap = a.length * 2;
  while (cap < need) cap *= 2;
  const next = new Uint16Array(cap);
  next.set(a);
  return next;
}

function grow32(a: Int32Array, need: number): Int32Array {
  let cap = a.length * 2;
  while (cap < need) cap *= 2;
  const next = new Int32Array(cap);
  next.set(a);
  return next;
}
