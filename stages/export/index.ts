// The `export` stage kind (exports.<name>): an adapter or a merged composition written as a PEFT directory at a project path.
// A light descriptor: the export implementation is imported on first run.
import type { DeclaredDeps, StageKind, StageReference } from '../../src/stage.ts';
import { exportSchema } from './schema.ts';

export interface ExportConfig {
  adapter?: string;
  composition?: string;
  path: string;
  format: string;
}

const exportKind: StageKind<ExportConfig> = {
  section: 'exports',
  kind: 'export',
  implVersion: '1',
  schema: exportSchema,
  references(_name, c): StageReference[] {
    if (c.adapter) return [{ pointer: '/adapter', target: `adapters.${c.adapter}` }];
    return c.composition ? [{ pointer: '/composition', target: `compositions.${c.composition}` }] : [];
  },
  workspaceOutputs(_name, c): string[] {
    return [c.path];
  },
  deps(name, c): DeclaredDeps {
    return { upstream: exportKind.references!(name, c).map((r) => r.target), files: [] };
  },
  run: (ctx) => import('./export-stage.ts').then((m) => m.runExportStage(ctx)),
};

export default exportKind;
