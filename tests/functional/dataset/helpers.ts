// Shared helpers for dataset tests: fixture paths, the stories260K tokenizer, temp projects and running the stage.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { resolveDatasetConfig } from '../../../stages/dataset/config.ts';
import datasetStage from '../../../stages/dataset/index.ts';
import { prepareDataset, type Prepared } from '../../../stages/dataset/prepare.ts';
import type { DatasetConfig } from '../../../stages/dataset/schema.ts';
import type { RunContext, UpstreamArtifact } from '../../../src/stage.ts';
import { loadModelTokenizer, type ModelTokenizer } from '../../../src/hf/index.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

export const FIXTURES = resolve('../shared/fixtures');
export const haveFixtures = existsSync(join(FIXTURES, 'stories260K/hf/tokenizer.json'));
export const STORIES_HF = join(FIXTURES, 'stories260K/hf');

let cached: ModelTokenizer | undefined;
export function storiesTokenizer(): ModelTokenizer {
  cached ??= loadModelTokenizer(STORIES_HF);
  return cached;
}

/** A temp project dir with the given files (path → content). */
export function tempProject(files: Record<string, string | Buffer> = {}): string {
  const dir = tempDir('peftmake-ds-');
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), content);
  }
  return dir;
}

export function prepare(config: Partial<DatasetConfig> & Record<string, unknown>, projectDir = process.cwd(), name = 'datasets.test'): Promise<Prepared> {
  return prepareDataset(resolveDatasetConfig({ model: 'base', ...config } as DatasetConfig), { name, projectDir, tokenizer: storiesTokenizer() });
}

/** Runs the stage kind as the core would, with a model artifact that points at stories260K through model.json. */
export async function runStage(projectDir: string, config: Record<string, unknown>, name = 'datasets.test') {
  const modelArtifact = join(projectDir, '.model-artifact');
  mkdirSync(modelArtifact, { recursive: true });
  writeFileSync(join(modelArtifact, 'model.json'), JSON.stringify({ dir: STORIES_HF }));
  const outDir = tempDir('peftmake-ds-out-');
  const resolvedConfig = datasetStage.resolveConfig!(name.split('.')[1], { model: 'base', ...config } as DatasetConfig, {});
  const upstream: UpstreamArtifact = {
    name: 'models.base',
    kind: 'model',
    key: 'k',
    version: 1,
    dir: modelArtifact,
    manifest: {} as UpstreamArtifact['manifest'],
  };
  const progress: unknown[] = [];
  const base = {
    name,
    kind: 'dataset',
    config: resolvedConfig,
    pipeline: {},
    projectDir,
    upstream: { 'models.base': upstream },
    signal: new AbortController().signal,
    json: true,
    progress: (p: unknown) => progress.push(p),
    log: () => {},
  };
  const resolved = await datasetStage.resolve!(base);
  const ctx: RunContext<DatasetConfig> = { ...base, outDir, resolved, inputs: [], resumeDir: outDir };
  const result = await datasetStage.run(ctx);
  const readJsonl = (f: string) =>
    readFileSync(join(outDir, f), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { ids: number[]; labels: number[]; text: string });
  return {
    outDir,
    result,
    resolved,
    progress,
    train: readJsonl('train.jsonl'),
    valid: readJsonl('valid.jsonl'),
    stats: JSON.parse(readFileSync(join(outDir, 'stats.json'), 'utf8')),
    statsText: readFileSync(join(outDir, 'stats.txt'), 'utf8'),
  };
}
