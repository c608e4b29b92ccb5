// A packed `text` sequence as an output record: its ids are a view of the tokenized stream, written to JSONL from
// there; `ids` (and `labels`, the same array: loss on every token) become a JS array only when something reads them.
import type { OutputRecord } from './prepare.ts';

export class PackedRecord implements OutputRecord {
  #ids: number[] | undefined;

  constructor(
    readonly idView: Int32Array,
    readonly text: string,
  ) {}

  get ids(): number[] {
    if (!this.#ids) {
      const view = this.idView;
      const ids: number[] = [];
      for (let k = 0; k < view.length; k++) ids.push(view[k]);
      this.#ids = ids;
    }
    return this.#ids;
  }

  get labels(): number[] {
    return this.ids;
  }
}

/** Token count of a record without materializing a packed record's ids. */
export function recordLength(r: OutputRecord): number {
  return r instanceof PackedRecord ? r.idView.length : r.ids.length;
}

/** Tokens carrying loss (labels other than `ignore`); every token of a packed record does. */
export function recordLossCount(r: OutputRecord, ignore: number): number {
  if (r instanceof PackedRecord) return r.idView.length;
  let n = 0;
  for (const l of r.labels) if (l !== ignore) n++;
  return n;
}
