// Writes a prepared dataset into the artifact directory: train.jsonl, valid.jsonl, stats.json and stats.txt.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { OutputRecord, Prepared } from './prepare.ts';
import { renderStats } from './stats.ts';

export function toJsonl(records: OutputRecord[]): string {
  let out = '';
  for (const r of records) out += `{"ids":[${r.ids.join(',')}],"labels":[${r.labels.join(',')}],"text":${JSON.stringify(r.text)}}\n`;
  return out;
}

export async function writeDataset(outDir: string, p: Prepared): Promise<void> {
  await writeFile(join(outDir, 'train.jsonl'), toJsonl(p.train));
  await writeFile(join(outDir, 'valid.jsonl'), toJsonl(p.valid));
  await writeFile(join(outDir, 'stats.json'), JSON.stringify(p.stats, null, 2) + '\n');
  await writeFile(join(outDir, 'stats.txt'), renderStats(p.stats));
}
