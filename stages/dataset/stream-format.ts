// train.jsonl / valid.jsonl bytes of a run of packed sequences (the streamed path's second pass): `ids` cut every
// seqLen ids (the last piece may be shorter), each a record as the in-memory path writes it. Runs in a dataset
// worker, or inline with one worker.
import type { ModelTokenizer } from '../../src/hf/index.ts';
import { jsonlBytes } from './jsonl-bytes.ts';
import { PackedRecord } from './packed-record.ts';

export interface FormatJob {
  op: 'format';
  ids: Int32Array;
  seqLen: number;
  tokenizerDir: string;
  /** A written reply's buffer, sent back to be written into again (fewer fresh buffers: less GC and fewer page faults). */
  spare?: ArrayBuffer;
}

/** The JSONL lines of the sequences of `ids` (a buffer of its own, or `spare` where it is large enough: transferable). */
export function formatSequences(ids: Int32Array, seqLen: number, tok: ModelTokenizer, spare?: ArrayBuffer): Uint8Array {
  const records: PackedRecord[] = [];
  for (let a = 0; a < ids.length; a += seqLen) records.push(new PackedRecord(ids.subarray(a, Math.min(ids.length, a + seqLen)), tok));
  const b = jsonlBytes(records, spare);
  return b.buffer.byteLength >= 1 << 16 ? b : new Uint8Array(b); // the writer's buffer is its own (64 KB+, never Buffer's pool); a small one is copied anyway
}
