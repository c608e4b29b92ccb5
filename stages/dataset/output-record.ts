// One record of a built dataset as train.jsonl / valid.jsonl hold it: token ids, labels (-100 where no loss) and text.

export interface OutputRecord {
  ids: number[];
  labels: number[];
  text: string;
}
