// Writes a prepared dataset into the artifact directory: train.jsonl, valid.jsonl, stats.json, stats.txt, samples.txt.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { OutputRecord, Prepared } from './prepare.ts';
import type { ModelTokenizer } from '../../src/tokenizer/index.ts';
import { renderSamples } from './samples.ts';
import { renderStats } from './stats.ts';

export function toJsonl(records: OutputRecord[]): string {
  let out = '';
  for (const r of records) {
    const ids = r.ids.join(',');
    const labels = r.labels === r.ids ? ids : r.labels.join(','); // text format: labels are the ids themselves
    out += `{"ids":[${ids}],"labels":[${labels}],"text":${JSON.stringify(r.text)}}\n`;
  }
  return out;
}

export async function writeDataset(outDir: string, p: Prepared, tok?: ModelTokenizer): Promise<void> {
  await writeFile(join(outDir, 'train.jsonl'), toJsonl(p.train));
  await writeFile(join(outDir, 'valid.jsonl'), toJsonl(p.valid));
  await writeFile(join(outDir, 'stats.json'), JSON.stringify(p.stats, null, 2) + '\n');
  await writeFile(join(outDir, 'stats.txt'), renderStats(p.stats));
  if (tok) await writeFile(join(outDir, 'samples.txt'), renderSamples(p.train, p.valid, tok));
}
