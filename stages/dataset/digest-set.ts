// Exact dedup without the texts: a set of 128-bit content digests (open addressing over one Int32Array, 16 bytes a
// slot), so memory grows by ~32 bytes per distinct document whatever the documents' size.
export class DigestSet {
  private slots = new Int32Array(4 << 12); // 4 words a slot; all-zero words: empty
  private mask = (1 << 12) - 1;
  private count = 0;
  private hasZero = false; // the all-zero digest (it cannot live in a slot)

  get size(): number {
    return this.count;
  }

  /** Adds d[at..at+4); false when it was there already. */
  add(d: Int32Array, at: number): boolean {
    const a = d[at];
    const b = d[at + 1];
    const c = d[at + 2];
    const e = d[at + 3];
    if ((a | b | c | e) === 0) {
      if (this.hasZero) return false;
      this.hasZero = true;
      this.count++;
      return true;
    }
    const s = this.slots;
    let slot = (a ^ (b >>> 7)) & this.mask;
    for (;;) {
      const p = slot * 4;
      if ((s[p] | s[p + 1] | s[p + 2] | s[p + 3]) === 0) break;
      if (s[p] === a && s[p + 1] === b && s[p + 2] === c && s[p + 3] === e) return false;
      slot = (slot + 1) & this.mask;
    }
    const p = slot * 4;
    s[p] = a;
    s[p + 1] = b;
    s[p + 2] = c;
    s[p + 3] = e;
    if (++this.count * 2 > this.mask) this.grow();
    return true;
  }

  private grow(): void {
    const old = this.slots;
    this.mask = this.mask * 2 + 1;
    this.slots = new Int32Array(4 * (this.mask + 1));
    const s = this.slots;
    for (let p = 0; p < old.length; p += 4) {
      if ((old[p] | old[p + 1] | old[p + 2] | old[p + 3]) === 0) continue;
      let slot = (old[p] ^ (old[p + 1] >>> 7)) & this.mask;
      while ((s[slot * 4] | s[slot * 4 + 1] | s[slot * 4 + 2] | s[slot * 4 + 3]) !== 0) slot = (slot + 1) & this.mask;
      s.set(old.subarray(p, p + 4), slot * 4);
    }
  }
}
