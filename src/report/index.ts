// The report's entry points: render a project's report as one HTML string (what a server mounts at GET /, with
// refreshSeconds for a live view while a build runs), and write it into a folder atomically (`peftmake report`).
import { join } from 'node:path';
import { writeFileAtomic } from '../store/atomic.ts';
import { collectReport, type CollectOptions } from './collect.ts';
import { renderReportHtml, type RenderOptions } from './html/page.ts';

export type { ReportModel } from './model.ts';
export { collectReport } from './collect.ts';
export { renderReportHtml } from './html/page.ts';

/**
 * The report of `opts.pipeline` as a self-contained HTML document. The caller loads the pipeline and plans:
 * `loadPipeline(file, { kinds })` and `(await statusOf({ pipeline, toolchain })).stages` (src/cli/commands/report.ts).
 */
export async function renderReport(opts: CollectOptions & RenderOptions): Promise<string> {
  return renderReportHtml(await collectReport(opts), opts);
}

/** Writes `html` as `<outDir>/<name>` (temp file + rename: a reader never sees half a page); returns the path. */
export function writeReportFile(outDir: string, name: string, html: string): string {
  const path = join(outDir, name);
  writeFileAtomic(path, html);
  return path;
}
