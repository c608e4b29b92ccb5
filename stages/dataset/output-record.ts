// One record of a built dataset as train.jsonl / valid.jsonl hold it: token ids, labels (-100 where no loss) and text.

export interface OutputRecord {
  ids: number[];
  labels: number[];
  text: string;
  /** Seq2seq models (T5): the encoder's ids (prompt + </s>); ids are then decoder_start + target + </s>. */
  enc?: number[];
}
