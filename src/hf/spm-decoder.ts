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
  // Per id: KIND; and the piece tables (see packPieces) of the pieces' UTF-8 and of their JSON-escaped UTF-8 (what
  // JSON.stringify writes between the quotes).
  private readonly kind: Uint8Array;
  private readonly specialTab: Uint8Array; // 1 for a special token's id (skipped with skipSpecial)
  private readonly noneTab: Uint8Array; // all 0: what skipSpecial = false skips
  private readonly plain: PieceTables;
  private readonly json: PieceTables;
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

  private constructor(pieces: readonly (Uint8Array | number | undefined)[], special: ReadonlySet<number>) {
    const n = pieces.length;
    this.kind = new Uint8Array(n);
    for (let id = 0; id < n; id++) {
      const p = pieces[id];
      this.kind[id] = p === undefined ? NO_PIECE : typeof p === 'number' ? BYTE : STRING;
    }
    this.specialTab = new Uint8Array(n);
    this.noneTab = new Uint8Array(n);
    for (const id of special) if (id >= 0 && id < n) this.specialTab[id] = 1;
    this.plain = packPieces(pieces);
    const json = pieces.map((p) => (p instanceof Uint8Array ? jsonEscapeBytes(p) : p));
    this.json = packPieces(json);
    this.jsonTables = () => flatPieces(json, this.kind);
  }

  /** The pieces for JSON output as flat tables (the peft_text addon's formatSequences decodes with them). */
  readonly jsonTables: () => FlatPieces;

  decode(ids: ArrayLike<number>, skipSpecial: boolean): string {
    return this.exact.decode(this.decodeUtf8(ids, skipSpecial));
  }

  /**
   * The UTF-8 bytes of decode(ids) — with `json`, of JSON.stringify(decode(ids)) without its quotes — as a view of a
   * buffer this decoder reuses, valid until its next call.
   */
  decodeUtf8(ids: ArrayLike<number>, skipSpecial: boolean, json = false): Uint8Array {
    const kind = this.kind;
    const skip = skipSpecial ? this.specialTab : this.noneTab;
    const { lenOf, lo, hi, longBytes, maxLen } = json ? this.json : this.plain;
    const n = kind.length;
    // Room for the worst case, so the buffer stays the same through the loop: a string piece takes at most maxLen
    // bytes, a byte at most 6 (a JSON escape; U+FFFD for an invalid byte takes 3).
    this.ensure(ids.length * Math.max(maxLen, 6) + 8);
    const out = this.scratch;
    const view = this.view;
    let pos = 0;
    let runStart = -1;
    for (let k = 0; k < ids.length; ) {
      // The hot loop makes no calls (so the arrays' lengths and data stay in registers): it leaves at the end of a
      // byte run, which endRun finishes, and goes on from the id that ended it.
      for (; k < ids.length; k++) {
        const id = ids[k];
        const kd = id >= 0 && id < n ? kind[id] : NO_PIECE;
        if (kd === NO_PIECE) {
          if (runStart >= 0) break;
          continue;
        }
        if (skip[id] !== 0) continue;
        if (kd === BYTE) {
          if (runStart < 0) runStart = pos;
          out[pos++] = lenOf[id];
          continue;
        }
        if (runStart >= 0) break;
        const len = lenOf[id];
        if (len <= 8) {
          view.setUint32(pos, lo[id], true);
          if (len > 4) view.setUint32(pos + 4, hi[id], true);
        } else out.set(longBytes[id]!, pos);
        pos += len;
      }
      if (runStart >= 0) {
        pos = this.endRun(runStart, pos, json);
        runStart = -1;
      }
    }
    return out.subarray(out[0] === 0x20 && pos > 0 ? 1 : 0, pos); // Strip " " (1, 0); an escape starts with "\\"
  }

  private ensure(size: number): void {
    if (this.scratch.length >= size) return;
    this.scratch = new Uint8Array(size * 2);
    this.view = new DataView(this.scratch.buffer);
  }

  /**
   * The byte run [start, end) as decoded on its own: a BOM at its start dropped (as a fresh TextDecoder does), then
   * its bytes when they are valid UTF-8, else the UTF-8 of its decoding (U+FFFD for each invalid sequence); with
   * `json`, JSON-escaped. Returns the new end (6 bytes a byte at most: the buffer has room for that).
   */
  private endRun(start: number, end: number, json: boolean): number {
    const out = this.scratch;
    if (end - start >= 3 && out[start] === 0xef && out[start + 1] === 0xbb && out[start + 2] === 0xbf) {
      out.copyWithin(start, start + 3, end);
      end -= 3;
    }
    let ascii = true;
    let escapes = false;
    for (let k = start; k < end; k++) {
      const b = out[k];
      if (b >= 0x80) ascii = false;
      else if (b < 0x20 || b === 0x22 || b === 0x5c) escapes = true;
    }
    if (ascii || isUtf8(out.subarray(start, end))) {
      if (!json || !escapes) return end;
      return this.replaceRun(start, jsonEscapeBytes(out.slice(start, end)));
    }
    const fixed = Buffer.from(this.exact.decode(out.subarray(start, end)), 'utf8');
    return this.replaceRun(start, json ? jsonEscapeBytes(fixed) : fixed);
  }

  /** Puts `bytes` (at most 6 per byte of the run they replace) at `start`, the start of the run. */
  private replaceRun(start: number, bytes: Uint8Array): number {
    this.scratch.set(bytes, start);
    return start + bytes.length;
  }
}

/** Per id: the byte (a byte piece) or the piece's length, pieces of up to 8 bytes packed little-endian into lo / hi for one or two unaligned 32-bit stores; longer ones keep their bytes. */
interface PieceTables {
  lenOf: Int32Array;
  lo: Uint32Array;
  hi: Uint32Array;
  longBytes: (Uint8Array | undefined)[];
  maxLen: number;
}

function packPieces(pieces: readonly (Uint8Array | number | undefined)[]): PieceTables {
  const n = pieces.length;
  const lenOf = new Int32Array(n);
  const lo = new Uint32Array(n);
  const hi = new Uint32Array(n);
  const longBytes: (Uint8Array | undefined)[] = [];
  let maxLen = 1;
  for (let id = 0; id < n; id++) {
    const p = pieces[id];
    if (p === undefined) continue;
    if (typeof p === 'number') {
      lenOf[id] = p;
      continue;
    }
    lenOf[id] = p.length;
    maxLen = Math.max(maxLen, p.length);
    if (p.length > 8) longBytes[id] = p;
    else
      for (let j = 0; j < p.length; j++)
        if (j < 4) lo[id] |= p[j] << (8 * j);
        else hi[id] |= p[j] << (8 * (j - 4));
  }
  return { lenOf, lo, hi, longBytes, maxLen };
}

/** Per id: kind (0 none, 1 a byte, 2 a string), and bytes[offsets[id], offsets[id + 1]): the byte, or the piece's bytes. */
export interface FlatPieces {
  kind: Uint8Array;
  bytes: Uint8Array;
  offsets: Uint32Array;
}

function flatPieces(pieces: readonly (Uint8Array | number | undefined)[], kind: Uint8Array): FlatPieces {
  const offsets = new Uint32Array(pieces.length + 1);
  for (let id = 0; id < pieces.length; id++) {
    const p = pieces[id];
    offsets[id + 1] = offsets[id] + (p === undefined ? 0 : typeof p === 'number' ? 1 : p.length);
  }
  const bytes = new Uint8Array(offsets[pieces.length]);
  pieces.forEach((p, id) => {
    if (typeof p === 'number') bytes[offsets[id]] = p;
    else if (p) bytes.set(p, offsets[id]);
  });
  return { kind: kind.slice(), bytes, offsets };
}

/** The JSON escape of each ASCII byte that needs one ('"', '\\', U+0000-U+001F), as JSON.stringify writes it. */
const JSON_ESCAPES: (Uint8Array | undefined)[] = Array.from({ length: 0x80 }, (_, c) =>
  c < 0x20 || c === 0x22 || c === 0x5c ? Buffer.from(JSON.stringify(String.fromCharCode(c)).slice(1, -1), 'latin1') : undefined,
);

/** Well-formed UTF-8 JSON-escaped as JSON.stringify escapes its string (multi-byte characters are left as they are). */
export function jsonEscapeBytes(b: Uint8Array): Uint8Array {
  let extra = 0;
  for (let k = 0; k < b.length; k++) if (b[k] < 0x80 && JSON_ESCAPES[b[k]]) extra += JSON_ESCAPES[b[k]]!.length - 1;
  if (extra === 0) return b;
  const out = new Uint8Array(b.length + extra);
  let pos = 0;
  for (let k = 0; k < b.length; k++) {
    const esc = b[k] < 0x80 ? JSON_ESCAPES[b[k]] : undefined;
    if (esc) {
      out.set(esc, pos);
      pos += esc.length;
    } else out[pos++] = b[k];
  }
  return out;
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
