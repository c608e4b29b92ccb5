// The report's entry points: render a project's report as one HTML string (what a server mounts at GET /, with
// refreshSeconds for a live view while a build runs), and write it into a folder atomically (`peftmake report`).
import { join } from 'node:path';
import { loadPipeline } from '../config/load.ts';
import type { Pipeline } from '../config/types.ts';
import type { StageKind } from '../stage.ts';
import { writeFileAtomic } from '../store/atomic.ts';
import { collectReport, type CollectOptions, type StageStatus } from './collect.ts';
import type { ReportModel } from './model.ts';
import { renderReportHtml, type RenderOptions } from './html/page.ts';

export type { ReportModel } from './model.ts';
export { collectReport } from './collect.ts';
export { renderReportHtml } from './html/page.ts';

/**
 * The report model of the project of `file`: the pipeline loaded with the stage `kinds`, planned by `plan` (the caller's
 * `statusOf` from src/exec, which the report may not import: it runs nothing), collected. `peftmake report` and serve's
 * dashboard both build it here.
 */
export async function projectReportModel(
  file: string,
  opts: { kinds: readonly StageKind[]; plan: (pipeline: Pipeline) => Promise<readonly StageStatus[]>; cwd?: string },
): Promise<ReportModel> {
  const pipeline = loadPipeline(file, { cwd: opts.cwd, kinds: opts.kinds as StageKind[] });
  return collectReport({ pipeline, status: await opts.plan(pipeline) });
}

/** The report of `opts.pipeline` as a self-contained HTML document (the caller loads and plans: projectReportModel). */
export async function renderReport(opts: CollectOptions & RenderOptions): Promise<string> {
  return renderReportHtml(await collectReport(opts), opts);
}

/** Writes `html` as `<outDir>/<name>` (temp file + rename: a reader never sees half a page); returns the path. */
export function writeReportFile(outDir: string, name: string, html: string): string {
  const path = join(outDir, name);
  writeFileAtomic(path, html);
  return path;
}
