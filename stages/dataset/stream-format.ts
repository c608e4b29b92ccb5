// train.jsonl / valid.jsonl bytes of a run of packed sequences (the streamed path's second pass): `ids` cut every
// seqLen ids (the last piece may be shorter), each a record as the in-memory path writes it. Runs in a dataset
// worker, or inline with one worker.
import type { ModelTokenizer } from '../../src/hf/index.ts';
import { jsonlBytes } from './jsonl-bytes.ts';
import { PackedRecord } from './packed-record.ts';
import { textAddon, type JsonPiecesHandle } from '../../src/util/text-addon.ts';

export interface FormatJob {
  op: 'format';
  ids: Int32Array;
  seqLen: number;
  tokenizerDir: string;
  /** A written reply's buffer, sent back to be written into again (fewer fresh buffers: less GC and fewer page faults). */
  spare?: ArrayBuffer;
}

/** Per tokenizer: its pieces in the peft_text addon (null: no byte-level decoder, or no addon). */
const nativePieces = new WeakMap<ModelTokenizer, JsonPiecesHandle | null>();

function piecesOf(tok: ModelTokenizer): JsonPiecesHandle | null {
  let h = nativePieces.get(tok);
  if (h === undefined) {
    const addon = textAddon();
    const t = addon && tok.jsonPieces?.();
    h = t ? addon.jsonPieces(t.kind, t.bytes, t.offsets) : null;
    nativePieces.set(tok, h);
  }
  return h;
}

/**
 * The JSONL lines of the sequences of `ids` (a buffer of its own, or `spare` where it is large enough: transferable):
 * in one call of the peft_text addon where it is built and the tokenizer decodes bytes (the same bytes: the tests
 * compare), else PackedRecords through jsonlBytes.
 */
export function formatSequences(ids: Int32Array, seqLen: number, tok: ModelTokenizer, spare?: ArrayBuffer): Uint8Array {
  const pieces = piecesOf(tok);
  if (pieces) {
    const b = textAddon()!.formatSequences(pieces, ids, seqLen, spare);
    return b.buffer.byteLength >= 1 << 16 ? b : new Uint8Array(b);
  }
  const records: PackedRecord[] = [];
  for (let a = 0; a < ids.length; a += seqLen) records.push(new PackedRecord(ids.subarray(a, Math.min(ids.length, a + seqLen)), tok));
  const b = jsonlBytes(records, spare);
  return b.buffer.byteLength >= 1 << 16 ? b : new Uint8Array(b); // the writer's buffer is its own (64 KB+, never Buffer's pool); a small one is copied anyway
}
