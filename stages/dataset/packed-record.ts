// A packed `text` sequence as an output record: its ids are a view of the tokenized stream, written to JSONL from
// there; `ids` (and `labels`, the same array: loss on every token) become a JS array only when something reads them,
// and its text is decoded only when something reads it (the JSONL writer takes the decoded UTF-8 bytes instead).
import type { OutputRecord } from './output-record.ts';

/** What decodes a record's ids into its text (a ModelTokenizer does). */
export interface RecordDecoder {
  decode(ids: ArrayLike<number>, opts: { skipSpecial: boolean }): string;
  /** The UTF-8 bytes of decode(ids) (with `json`, of JSON.stringify of it without the quotes), a view valid until the next call; absent where the decoder has no byte path. */
  decodeUtf8?: (ids: ArrayLike<number>, opts?: { json?: boolean }) => Uint8Array;
}

export class PackedRecord implements OutputRecord {
  #ids: number[] | undefined;
  #text: string | undefined;
  readonly #decoder: RecordDecoder | undefined;

  /** `text`: the record's text, or the decoder that gives it from the ids. */
  constructor(
    readonly idView: Int32Array,
    text: string | RecordDecoder,
  ) {
    if (typeof text === 'string') this.#text = text;
    else this.#decoder = text;
  }

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

  get text(): string {
    if (this.#text === undefined) this.#text = this.#decoder!.decode(this.idView, { skipSpecial: false });
    return this.#text;
  }

  /**
   * The UTF-8 bytes of JSON.stringify(text) without its quotes, without building the text (a view valid until the
   * decoder's next call), where the decoder has a byte path and the text was not built already.
   */
  textJsonUtf8(): Uint8Array | undefined {
    return this.#text === undefined ? this.#decoder?.decodeUtf8?.(this.idView, { json: true }) : undefined;
  }

  /** `text.length` where the text is known; else undefined (decoding it just to size a buffer would cost the decode). */
  knownTextLength(): number | undefined {
    return this.#text?.length;
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
