// The kept documents' token ids in order, between the streamed path's two passes: in memory up to MEMORY_IDS ids,
// past that in a scratch file (appended, then read back in order), so memory stays bounded for any corpus.
import { closeSync, openSync, readSync, rmSync, writeSync } from 'node:fs';

const MEMORY_IDS = 1 << 22; // 16 MB

export class TokenSpool {
  private buf: Int32Array;
  private len = 0; // ids in buf
  private fd: number | undefined;
  private spilled = 0; // ids in the file

  /** `file`: the scratch file used past the memory budget (removed by close()). */
  constructor(
    private readonly file: string,
    private readonly memoryIds = MEMORY_IDS,
  ) {
    this.buf = new Int32Array(Math.min(1 << 16, memoryIds));
  }

  get total(): number {
    return this.spilled + this.len;
  }

  append(ids: Int32Array): void {
    if (this.len + ids.length > this.buf.length) {
      if (this.len + ids.length <= this.memoryIds) {
        let cap = this.buf.length * 2;
        while (cap < this.len + ids.length) cap *= 2;
        const next = new Int32Array(Math.min(cap, this.memoryIds));
        next.set(this.buf.subarray(0, this.len));
        this.buf = next;
      } else {
        this.flush();
        if (ids.length > this.buf.length) {
          this.writeIds(ids);
          return;
        }
      }
    }
    this.buf.set(ids, this.len);
    this.len += ids.length;
  }

  private writeIds(ids: Int32Array): void {
    this.fd ??= openSync(this.file, 'w+');
    const bytes = new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength);
    for (let at = 0; at < bytes.length; ) at += writeSync(this.fd, bytes, at, bytes.length - at, this.spilled * 4 + at);
    this.spilled += ids.length;
  }

  private flush(): void {
    if (this.len === 0) return;
    this.writeIds(this.buf.subarray(0, this.len));
    this.len = 0;
  }

  /** The ids in order, `block` ids at a time at most (each a view valid until the next): the spilled part, then the part in memory. */
  *blocks(block = 1 << 20): Generator<Int32Array> {
    if (this.fd !== undefined) {
      const part = new Int32Array(block);
      const bytes = new Uint8Array(part.buffer);
      for (let at = 0; at < this.spilled; ) {
        const want = Math.min(block, this.spilled - at);
        let got = 0;
        while (got < want * 4) {
          const n = readSync(this.fd, bytes, got, want * 4 - got, at * 4 + got);
          if (n === 0) throw new Error(`token spool ${this.file}: short read`);
          got += n;
        }
        yield part.subarray(0, want);
        at += want;
      }
    }
    for (let at = 0; at < this.len; at += block) yield this.buf.subarray(at, Math.min(this.len, at + block));
  }

  close(): void {
    if (this.fd !== undefined) {
      closeSync(this.fd);
      this.fd = undefined;
      rmSync(this.file, { force: true });
    }
  }
}
