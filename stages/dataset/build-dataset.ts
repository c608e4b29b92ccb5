// A dataset artifact built into a directory: the streamed path (stream-prepare.ts) where it applies (`text` from
// text files, exact or no dedup), else prepareDataset in memory + writeDataset; the same files either way.
import type { ModelTokenizer } from '../../src/hf/index.ts';
import { prepareDataset, type PrepareOptions } from './prepare.ts';
import type { DatasetConfig } from './schema.ts';
import type { DatasetStats } from './stats.ts';
import { prepareStreamed, streamedSources } from './stream-prepare.ts';
import { writeDataset } from './write.ts';

/** Builds train.jsonl, valid.jsonl, stats.json, stats.txt (and with `samplesTokenizer`, samples.txt) into outDir. */
export async function buildDataset(
  outDir: string,
  config: DatasetConfig,
  opts: PrepareOptions,
  samplesTokenizer?: ModelTokenizer,
): Promise<{ stats: DatasetStats; bytesIn: number; streamed: boolean }> {
  const sources = await streamedSources(config, opts);
  if (sources) return { ...(await prepareStreamed(config, opts, sources, outDir, samplesTokenizer !== undefined)), streamed: true };
  const p = await prepareDataset(config, opts);
  await writeDataset(outDir, p, samplesTokenizer);
  return { stats: p.stats, bytesIn: p.bytesIn, streamed: false };
}
