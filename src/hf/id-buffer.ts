// A growable Int32Array of token ids: encoders append to it without a JS array (or an allocation) per word.

export class IdBuffer {
  data: Int32Array;
  length = 0;

  constructor(capacity = 1024) {
    this.data = new Int32Array(Math.max(16, capacity));
  }

  /** Makes room for `extra` more ids. */
  reserve(extra: number): void {
    const need = this.length + extra;
    if (need <= this.data.length) return;
    let cap = this.data.length * 2;
    while (cap < need) cap *= 2;
    const next = new Int32Array(cap);
    next.set(this.data.subarray(0, this.length));
    this.data = next;
  }

  push(id: number): void {
    if (this.length === this.data.length) this.reserve(1);
    this.data[this.length++] = id;
  }

  pushArray(ids: readonly number[]): void {
    this.reserve(ids.length);
    for (let k = 0; k < ids.length; k++) this.data[this.length++] = ids[k];
  }

  pushIds(ids: Int32Array): void {
    this.reserve(ids.length);
    this.data.set(ids, this.length);
    this.length += ids.length;
  }

  /** The ids so far, as a view of the buffer (valid until the next append). */
  view(): Int32Array {
    return this.data.subarray(0, this.length);
  }

  /** The ids from `start` to `end` (default: the end) as a plain array. */
  toArray(start = 0, end = this.length): number[] {
    const n = Math.max(0, end - start);
    const d = this.data;
    if (n > 50_000) {
      // new Array(n) this large would be a slow dictionary-mode array
      const big: number[] = [];
      for (let k = 0; k < n; k++) big.push(d[start + k]);
      return big;
    }
    const out = new Array<number>(n); // sized once (push would regrow it and leave the copies to the GC), then filled
    for (let k = 0; k < n; k++) out[k] = d[start + k];
    return out;
  }
}
