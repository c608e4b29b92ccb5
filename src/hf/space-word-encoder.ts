// Encoding for SentencePiece-style BPE (normalizer Prepend "▁" + Replace " " → "▁", a split before each "▁") done
// straight on the raw text: a word is a run of non-spaces with the count of "▁" marks before it (1 + the extra
// spaces; the first word gets the prepended one), and each distinct (marks, word) is run through BPE once. The cache
// is an open-addressing hash table over the word's characters in the text, so a hit allocates nothing.
import { endianness } from 'node:os';
import type { WordEncoder } from './fast-bpe.ts';
import type { IdBuffer } from './id-buffer.ts';

const SP = '\u2581';
const LITTLE_ENDIAN = endianness() === 'LE';
const ROOM = 1 << 18; // ids reserved at a time

export class SpaceWordEncoder {
  // slots: per slot [hash, record offset + 1] (0: empty). pool: records [hash, length, marks, id count, characters…,
  // ids…] back to back, so a hit reads one slot pair and one record.
  private slots!: Int32Array;
  private mask!: number; // slot count - 1
  private count!: number;
  private pool!: Int32Array;
  private used!: number;

  /** `maxEntries`: the cache is cleared past this many distinct words (bounded memory; the output is unchanged). */
  constructor(
    private readonly words: WordEncoder,
    private readonly maxEntries = 1 << 19,
  ) {
    this.clear();
  }

  private clear(): void {
    this.mask = (1 << 16) - 1;
    this.slots = new Int32Array(2 << 16);
    this.count = 0;
    this.pool = new Int32Array(1 << 18);
    this.used = 0;
  }

  // The text's UTF-16 code units, copied in by one native write: the loops read a typed array, cheaper than charCodeAt.
  private bytes = Buffer.allocUnsafeSlow(1 << 17);
  private chars = new Uint16Array(this.bytes.buffer, 0, 1 << 16);

  /** Appends the ids of `text` (which contains no "▁") to `out`. */
  encodeTo(text: string, out: IdBuffer): void {
    const n = text.length;
    if (n === 0) return;
    if (this.chars.length < n) {
      this.bytes = Buffer.allocUnsafeSlow(n * 2);
      this.chars = new Uint16Array(this.bytes.buffer, 0, n);
    }
    const chars = this.chars;
    if (LITTLE_ENDIAN) this.bytes.write(text, 0, 'utf16le');
    else for (let k = 0; k < n; k++) chars[k] = text.charCodeAt(k);
    // Room up front for every id of a document of up to ~87k characters: a UTF-16 unit (or "▁" mark) gives at most
    // 3 (byte fallback of a BMP character); a longer one grows the buffer as it goes.
    out.reserve(Math.min(3 * n + 3, ROOM));
    let dst = out.data;
    let at = out.length;
    let slots = this.slots;
    let pool = this.pool;
    let mask = this.mask;
    let marks = 1;
    let i = 0;
    for (;;) {
      // The hot loop makes no calls (so the arrays' lengths and data stay in registers): it leaves at a word not in
      // the cache, which is encoded and cached below, and goes on after it.
      let missStart = -1;
      let full = -1; // a cached record whose ids do not fit the buffer
      let missEnd = 0;
      let missHash = 0;
      let missSlot = 0;
      while (i <= n) {
        const start = i;
        let h = Math.imul(marks, 0x9e3779b1) ^ 0x811c9dc5;
        if (i < n) {
          let c = chars[i];
          if (c === 32) {
            marks++;
            i++;
            continue;
          }
          for (;;) {
            h = Math.imul(h ^ c, 0x01000193);
            if (++i === n) break;
            c = chars[i];
            if (c === 32) break;
          }
        } else if (marks === 0) break;
        else i++; // spaces at the end: "▁" marks with no word (start = n), i past n ends the loop
        const end = Math.min(i, n);
        const len = end - start;
        // The cached ids of (marks, chars[start, end)), found by hash, length, marks and characters.
        let slot = (h ^ (h >>> 15)) & mask;
        let r = -1;
        for (;;) {
          r = slots[2 * slot + 1] - 1;
          if (r < 0) break;
          if (slots[2 * slot] === h && pool[r + 1] === len && pool[r + 2] === marks) {
            let k = 0;
            while (k < len && pool[r + 4 + k] === chars[start + k]) k++;
            if (k === len) break;
          }
          slot = (slot + 1) & mask;
        }
        if (r < 0) {
          missStart = start;
          missEnd = end;
          missHash = h;
          missSlot = slot;
          break;
        }
        if (at + pool[r + 3] > dst.length) {
          full = r;
          break;
        }
        for (let j = r + 4 + len, e = j + pool[r + 3]; j < e; j++) dst[at++] = pool[j];
        marks = 0;
      }
      if (full >= 0) {
        out.length = at;
        out.reserve(pool[full + 3] + Math.min(3 * (n - i) + 3, ROOM));
        dst = out.data;
        for (let j = full + 4 + pool[full + 1], e = j + pool[full + 3]; j < e; j++) dst[at++] = pool[j];
        marks = 0;
        continue;
      }
      if (missStart < 0) break;
      const len = missEnd - missStart;
      const ids = this.words.encode(SP.repeat(marks) + text.slice(missStart, missEnd));
      if (at + ids.length > dst.length) {
        out.length = at;
        out.reserve(ids.length + Math.min(3 * (n - missEnd) + 3, ROOM));
        dst = out.data;
      }
      for (let k = 0; k < ids.length; k++) dst[at++] = ids[k];
      this.insert(text, missStart, len, marks, missHash, ids, missSlot);
      slots = this.slots;
      pool = this.pool;
      mask = this.mask;
      marks = 0;
    }
    out.length = at;
  }

  private insert(text: string, start: number, len: number, marks: number, hash: number, ids: number[], slot: number): void {
    if (this.count >= this.maxEntries) {
      this.clear();
      return; // the next occurrence re-inserts it
    }
    const size = 4 + len + ids.length;
    if (this.used + size > this.pool.length) {
      let cap = this.pool.length * 2;
      while (cap < this.used + size) cap *= 2;
      const next = new Int32Array(cap);
      next.set(this.pool.subarray(0, this.used));
      this.pool = next;
    }
    const pool = this.pool;
    const r = this.used;
    pool[r] = hash;
    pool[r + 1] = len;
    pool[r + 2] = marks;
    pool[r + 3] = ids.length;
    for (let k = 0; k < len; k++) pool[r + 4 + k] = text.charCodeAt(start + k);
    for (let k = 0; k < ids.length; k++) pool[r + 4 + len + k] = ids[k];
    this.used += size;
    this.slots[2 * slot] = hash;
    this.slots[2 * slot + 1] = r + 1;
    if (++this.count * 2 > this.mask) this.rehash();
  }

  private rehash(): void {
    const old = this.slots;
    this.mask = this.mask * 2 + 1;
    this.slots = new Int32Array(2 * (this.mask + 1));
    for (let s = 0; s < old.length; s += 2) {
      if (old[s + 1] === 0) continue;
      const hash = old[s];
      let slot = (hash ^ (hash >>> 15)) & this.mask;
      while (this.slots[2 * slot + 1] !== 0) slot = (slot + 1) & this.mask;
      this.slots[2 * slot] = hash;
      this.slots[2 * slot + 1] = old[s + 1];
    }
  }
}
