// The small peft_text addon (native/src/text_addon): the dataset stage's per-chunk text work in one native call per
// chunk (word-cache encoding, content digests and seeded ranks). Optional: where it is not built, the JS code does
// the same work (the tests compare the two on real text). Loads in any thread (each dataset worker loads its own).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

export const TEXT_ADDON_PATH = join(import.meta.dirname, '..', '..', 'native', 'build', 'Release', 'peft_text.node');

/** A native word encoder's handle (see spaceWords). */
export type SpaceWordsHandle = { readonly __brand: 'SpaceWords' };
/** A native decoder's pieces (see jsonPieces). */
export type JsonPiecesHandle = { readonly __brand: 'JsonPieces' };

export interface TextAddon {
  /** A SentencePiece-style word encoder with its word cache (src/hf/space-word-encoder.ts's); `encodeWord` encodes a missed word ("▁" marks first). */
  spaceWords(encodeWord: (word: string) => number[], maxEntries: number): SpaceWordsHandle;
  /** Encodes each text [ends[i-1], ends[i]) of `text` (none holding "▁"): the end of each text's ids into idEnds; returns the ids' count. */
  spaceWordsEncode(handle: SpaceWordsHandle, text: string, ends: Int32Array, idEnds: Int32Array): number;
  /** The ids of the last spaceWordsEncode copied into `out` from `at`. */
  spaceWordsTake(handle: SpaceWordsHandle, out: Int32Array, at: number): void;
  /**
   * Per text [ends[i-1], ends[i]): the first 16 bytes of the SHA-1 of its UTF-8 (4 little-endian int32s), and per
   * prefix p readUIntBE(0, 6) / 2^48 of SHA-256(p + base64(SHA-1)) at ranks[i * prefixes.length + p].
   */
  docDigests(text: string, ends: Int32Array, prefixes: string[]): { digest: Int32Array; ranks: Float64Array };
  /** stages/dataset/clean.ts's normalizeWhitespace (the JS function is the reference the tests compare it with). */
  normalizeWhitespace(s: string): string;
  /** normalizeWhitespace of each text [ends[i-1], ends[i]) of `text`. */
  normalizeWhitespaceEach(text: string, ends: Int32Array): string[];
  /** The SentencePiece byte-fallback decoder's pieces for JSON output (src/hf/spm-decoder.ts's FlatPieces). */
  jsonPieces(kind: Uint8Array, bytes: Uint8Array, offsets: Uint32Array): JsonPiecesHandle;
  /**
   * The JSONL lines of `ids` cut every seqLen ids, `{"ids":[…],"labels":[…],"text":"…"}\n` each (labels: the ids; text:
   * the ids decoded), in `spare` where it has room, else in a buffer of their own.
   */
  formatSequences(handle: JsonPiecesHandle, ids: Int32Array, seqLen: number, spare?: ArrayBuffer): Uint8Array;
}

let addon: TextAddon | null | undefined;

/** The loaded addon, or undefined where it is not built (PEFTMAKE_NO_TEXT_ADDON=1 turns it off, for tests). */
export function textAddon(): TextAddon | undefined {
  if (process.env.PEFTMAKE_NO_TEXT_ADDON === '1') return undefined;
  if (addon === undefined) {
    addon = null;
    if (existsSync(TEXT_ADDON_PATH)) {
      try {
        addon = createRequire(import.meta.url)(TEXT_ADDON_PATH) as TextAddon;
      } catch {
        addon = null; // built for another Node ABI, say: the JS code is used
      }
    }
  }
  return addon ?? undefined;
}
