// Writes a prepared dataset into the artifact directory: train.jsonl, valid.jsonl, stats.json, stats.txt, samples.txt.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { OutputRecord } from './output-record.ts';
import type { Prepared } from './prepare.ts';
import type { ModelTokenizer } from '../../src/hf/index.ts';
import { jsonlBytes, writeJsonlFile } from './jsonl-bytes.ts';
import { renderSamples } from './samples.ts';
import { renderStats } from './stats.ts';

/** The JSONL text of `records` (one {"ids","labels","text"} object a line). */
export function toJsonl(records: OutputRecord[]): string {
  return jsonlBytes(records).toString('utf8');
}

export async function writeDataset(outDir: string, p: Prepared, tok?: ModelTokenizer): Promise<void> {
  // The JSONL files are written as they are built, a small buffer at a time; the others go to the I/O threads.
  const writes: Promise<void>[] = [];
  try {
    writeJsonlFile(join(outDir, 'train.jsonl'), p.train);
    writeJsonlFile(join(outDir, 'valid.jsonl'), p.valid);
    writes.push(writeFile(join(outDir, 'stats.json'), JSON.stringify(p.stats, null, 2) + '\n'));
    writes.push(writeFile(join(outDir, 'stats.txt'), renderStats(p.stats)));
    if (tok) writes.push(writeFile(join(outDir, 'samples.txt'), renderSamples(p.train, p.valid, tok)));
  } catch (err) {
    await Promise.allSettled(writes); // no write left running (or failing unobserved) behind the error
    throw err;
  }
  await Promise.all(writes);
}
