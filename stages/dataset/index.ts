// The `dataset` stage kind: declares its source files and upstream model, resolves hub revisions to commit shas,
// and builds train.jsonl / valid.jsonl / stats.json (+ stats.txt) into the stage's artifact directory.
// A light descriptor: building, diffing and the hub client are imported only when a stage needs them.
import type { DeclaredDeps, RunContext, RunResult, StageKind } from '../../src/stage.ts';
import { resolveDatasetConfig } from './config.ts';
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
    const config = resolveDatasetConfig(ctx.config as DatasetConfig);
    if (!config.source.hub && !config.split.source?.hub) return {}; // only hub sources resolve to anything
    const { resolveHubSources } = await import('./sources/hub.ts');
    return resolveHubSources(config, { signal: ctx.signal });
  },
  async run(ctx: RunContext<DatasetConfig>): Promise<RunResult> {
    const { runDatasetStage } = await import('./dataset-stage.ts');
    return runDatasetStage(ctx);
  },
  diff: (a, b) => import('./diff.ts').then((m) => m.diffDatasets(a, b)),
};

export default datasetStage;
