// Decoding for the SentencePiece decoder Sequence[Replace "▁" → " ", ByteFallback, Fuse, Strip " " (1, 0)] as UTF-8
// bytes (what a JSONL writer needs) or as a string, without the library's per-call overhead.
import { isUtf8 } from 'node:buffer';

const SP = '\u2581';
const NO_PIECE = 0;
const BYTE = 1;
const STRING = 2;

/**
 * The text of ids is built as bytes: string pieces as their UTF-8, each run of byte pieces as that run decoded on its
 * own (the library's ByteFallback: a BOM at its start dropped, an invalid sequence replaced by U+FFFD) — the run's
 * bytes themselves whenever they are valid UTF-8, which is almost always. String pieces are well-formed UTF-8
 * (checked by the caller, see fromPieces), so the result is well-formed UTF-8 and decoding it gives the string.
 */
export class SpmDecoder {
  // Per id: KIND, the byte (BYTE) or the piece's UTF-8 length (STRING), and pieces of up to 8 bytes packed
  // little-endian into lo / hi for one or two unaligned 32-bit stores; longer ones keep their bytes.
  private readonly kind: Uint8Array;
  private readonly lenOf: Int32Array;
  private readonly lo: Uint32Array;
  private readonly hi: Uint32Array;
  private readonly longBytes: (Uint8Array | undefined)[];
  private readonly maxLen: number;
  private scratch = new Uint8Array(1 << 16);
  private view = new DataView(this.scratch.buffer);
  private readonly exact = new TextDecoder('utf-8', { ignoreBOM: true });

  /** `pieces[id]`: a byte (a <0xXX> token), the piece's text with "▁" as " ", or undefined. Undefined when a piece is no well-formed UTF-16. */
  static fromPieces(pieces: readonly (string | number | undefined)[], special: ReadonlySet<number>): SpmDecoder | undefined {
    const utf8 = new TextEncoder();
    const strict = new TextDecoder('utf-8', { ignoreBOM: true });
    const bytes: (Uint8Array | number | undefined)[] = [];
    for (const p of pieces) {
      if (typeof p !== 'string') {
        bytes.push(p);
        continue;
      }
      const b = utf8.encode(p);
      if (strict.decode(b) !== p) return undefined; // a lone surrogate: only the string path keeps it
      bytes.push(b);
    }
    return new SpmDecoder(bytes, special);
  }

  private constructor(
    pieces: readonly (Uint8Array | number | undefined)[],
    private readonly special: ReadonlySet<number>,
  ) {
    const n = pieces.length;
    this.kind = new Uint8Array(n);
    this.lenOf = new Int32Array(n);
    this.lo = new Uint32Array(n);
    this.hi = new Uint32Array(n);
    this.longBytes = [];
    let maxLen = 1;
    for (let id = 0; id < n; id++) {
      const p = pieces[id];
      if (p === undefined) continue;
      if (typeof p === 'number') {
        this.kind[id] = BYTE;
        this.lenOf[id] = p;
        continue;
      }
      this.kind[id] = STRING;
      this.lenOf[id] = p.length;
      maxLen = Math.max(maxLen, p.length);
      if (p.length > 8) this.longBytes[id] = p;
      else
        for (let j = 0; j < p.length; j++)
          if (j < 4) this.lo[id] |= p[j] << (8 * j);
          else this.hi[id] |= p[j] << (8 * (j - 4));
    }
    this.maxLen = maxLen;
  }

  decode(ids: ArrayLike<number>, skipSpecial: boolean): string {
    return this.exact.decode(this.decodeUtf8(ids, skipSpecial));
  }

  /** The UTF-8 bytes of decode(ids): a view of a buffer this decoder reuses, valid until its next call. */
  decodeUtf8(ids: ArrayLike<number>, skipSpecial: boolean): Uint8Array {
    const { kind, lenOf, lo, hi, special } = this;
    const n = kind.length;
    this.ensure(ids.length * this.maxLen + 8);
    let out = this.scratch;
    let view = this.view;
    let pos = 0;
    let runStart = -1;
    for (let k = 0; k < ids.length; k++) {
      const id = ids[k];
      if (skipSpecial && special.has(id)) continue;
      const kd = id >= 0 && id < n ? kind[id] : NO_PIECE;
      if (kd === BYTE) {
        if (runStart < 0) runStart = pos;
        out[pos++] = lenOf[id];
        continue;
      }
      if (runStart >= 0) {
        pos = this.endRun(runStart, pos, (ids.length - k) * this.maxLen + 8);
        out = this.scratch;
        view = this.view;
        runStart = -1;
      }
      if (kd === NO_PIECE) continue;
      const len = lenOf[id];
      if (len <= 8) {
        view.setUint32(pos, lo[id], true);
        if (len > 4) view.setUint32(pos + 4, hi[id], true);
      } else out.set(this.longBytes[id]!, pos);
      pos += len;
    }
    if (runStart >= 0) pos = this.endRun(runStart, pos, 0);
    out = this.scratch;
    return out.subarray(out[0] === 0x20 && pos > 0 ? 1 : 0, pos); // Strip " " (1, 0)
  }

  private ensure(size: number): void {
    if (this.scratch.length >= size) return;
    this.scratch = new Uint8Array(size * 2);
    this.view = new DataView(this.scratch.buffer);
  }

  /**
   * The byte run [start, end) as decoded on its own: a BOM at its start dropped (as a fresh TextDecoder does), then
   * its bytes when they are valid UTF-8, else the UTF-8 of its decoding (U+FFFD for each invalid sequence). Returns
   * the new end; keeps `room` bytes free after it.
   */
  private endRun(start: number, end: number, room: number): number {
    let out = this.scratch;
    if (end - start >= 3 && out[start] === 0xef && out[start + 1] === 0xbb && out[start + 2] === 0xbf) {
      out.copyWithin(start, start + 3, end);
      end -= 3;
    }
    let ascii = true;
    for (let k = start; k < end; k++) if (out[k] >= 0x80) ascii = false;
    if (ascii || isUtf8(out.subarray(start, end))) return end;
    const fixed = Buffer.from(this.exact.decode(out.subarray(start, end)), 'utf8');
    if (start + fixed.length + room > out.length) {
      const grown = new Uint8Array((start + fixed.length + room) * 2);
      grown.set(out.subarray(0, start));
      this.scratch = grown;
      this.view = new DataView(grown.buffer);
      out = grown;
    }
    out.set(fixed, start);
    return start + fixed.length;
  }
}

/** pieces for SpmDecoder.fromPieces from a SentencePiece vocabulary (<0xXX> byte tokens, "▁" for spaces) and its added tokens. */
export function spmPieces(vocab: readonly (string | undefined)[], added: ReadonlyMap<number, { content: string }>): (string | number | undefined)[] {
  const pieces: (string | number | undefined)[] = vocab.map((v) => {
    const m = /^<0x([0-9A-F]{2})>$/.exec(v ?? '');
    return m ? parseInt(m[1], 16) : (v ?? '').replaceAll(SP, ' ');
  });
  for (const [id, a] of added) pieces[id] = a.content;
  return pieces;
}
