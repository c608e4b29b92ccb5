// The `dataset` stage kind: declares its source files and upstream model, resolves hub revisions to commit shas,
// and builds train.jsonl / valid.jsonl / stats.json (+ stats.txt) into the stage's artifact directory.
import type { DeclaredDeps, RunContext, RunResult, StageKind } from '../../src/stage.ts';
import { resolveDatasetConfig } from './config.ts';
import { buildDataset } from './build.ts';
import { diffDatasets } from './diff.ts';
import { resolveHubSources } from './sources/hub.ts';
import { datasetSchema, type DatasetConfig } from './schema.ts';

export function datasetDeps(config: DatasetConfig): DeclaredDeps {
  const files = [...(config.source.files ?? []), ...(config.split.source?.files ?? [])];
  return { upstream: [`models.${config.model}`], files };
}

const datasetStage: StageKind<DatasetConfig> = {
  section: 'datasets',
  kind: 'dataset',
  implVersion: '1',
  schema: datasetSchema as unknown as Record<string, unknown>,
  resolveConfig(_name, config) {
    return resolveDatasetConfig(config);
  },
  deps(_name, config) {
    return datasetDeps(resolveDatasetConfig(config));
  },
  async resolve(ctx) {
    return resolveHubSources(resolveDatasetConfig(ctx.config as DatasetConfig), { signal: ctx.signal });
  },
  async run(ctx: RunContext<DatasetConfig>): Promise<RunResult> {
    return buildDataset(ctx);
  },
  diff: diffDatasets,
};

export default datasetStage;
