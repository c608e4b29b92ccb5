// The kept documents' token ids in order, between the streamed path's two passes: in memory up to MEMORY_IDS ids,
// past that in a scratch file (appended, then read back in order), so memory stays bounded for any corpus. The file
// holds blocks [count, bytes per id] + ids, 2 bytes an id where the block's ids all fit (vocabularies up to 65536:
// half the disk traffic), else 4.
import { closeSync, openSync, readSync, rmSync, writeSync } from 'node:fs';

const MEMORY_IDS = 1 << 22; // 16 MB

export class TokenSpool {
  private buf: Int32Array;
  private len = 0; // ids in buf
  private fd: number | undefined;
  private spilled = 0; // ids in the file
  private fileBytes = 0;

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
    let narrow = true;
    for (let k = 0; k < ids.length; k++)
      if (ids[k] >>> 16 !== 0) {
        narrow = false;
        break;
      }
    let body: Int32Array | Uint16Array = ids;
    if (narrow) {
      body = new Uint16Array(ids.length);
      body.set(ids);
    }
    this.writeBytes(new Uint8Array(Int32Array.of(ids.length, narrow ? 2 : 4).buffer));
    this.writeBytes(new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
    this.spilled += ids.length;
  }

  private writeBytes(bytes: Uint8Array): void {
    for (let at = 0; at < bytes.length; ) at += writeSync(this.fd!, bytes, at, bytes.length - at, this.fileBytes + at);
    this.fileBytes += bytes.length;
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
      const raw = new Uint8Array(block * 4);
      const head = new Int32Array(2);
      for (let pos = 0; pos < this.fileBytes; ) {
        this.readBytes(new Uint8Array(head.buffer), pos);
        pos += 8;
        const [count, width] = head;
        for (let done = 0; done < count; ) {
          const n = Math.min(block, count - done);
          this.readBytes(raw.subarray(0, n * width), pos);
          pos += n * width;
          if (width === 2) part.set(new Uint16Array(raw.buffer, 0, n));
          else part.set(new Int32Array(raw.buffer, 0, n));
          done += n;
          yield part.subarray(0, n);
        }
      }
    }
    for (let at = 0; at < this.len; at += block) yield this.buf.subarray(at, Math.min(this.len, at + block));
  }

  private readBytes(into: Uint8Array, pos: number): void {
    for (let got = 0; got < into.length; ) {
      const n = readSync(this.fd!, into, got, into.length - got, pos + got);
      if (n === 0) throw new Error(`token spool ${this.file}: short read`);
      got += n;
    }
  }

  close(): void {
    if (this.fd !== undefined) {
      closeSync(this.fd);
      this.fd = undefined;
      rmSync(this.file, { force: true });
    }
  }
}
