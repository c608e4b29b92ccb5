// Makes docs/report.png: renders the report of a project (default: this repo's default pipeline, built first with
// `npm run peftmake -- build`) with the same code as `peftmake report`, opens it offline in headless Chromium (the
// browser tests' helper) and screenshots the top of the page. Usage: npx tsx scripts/report-screenshot.ts [pipeline.json] [out.png]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { TOOLCHAIN } from '../src/cli/toolchain.ts';
import { statusOf } from '../src/exec/build.ts';
import { projectReportModel, renderReportHtml, writeReportFile } from '../src/report/index.ts';
import { chromiumSkipReason, openOfflineBrowser } from '../tests/helpers/chromium.ts';

async function main(): Promise<void> {
  const file = resolve(process.argv[2] ?? 'pipeline.json');
  const out = resolve(process.argv[3] ?? 'docs/report.png');
  const skip = chromiumSkipReason();
  if (skip) throw new Error(`cannot take the screenshot: ${skip}`);
  const dir = mkdtempSync(join(tmpdir(), 'peftmake-report-'));
  const page = writeReportFile(
    dir,
    'index.html',
    renderReportHtml(
      await projectReportModel(file, { kinds: TOOLCHAIN.kinds, plan: async (pipeline) => (await statusOf({ pipeline, toolchain: TOOLCHAIN })).stages }),
    ),
  );
  const b = await openOfflineBrowser({ width: 1280, height: 1600 });
  try {
    await b.page.goto(pathToFileURL(page).href);
    await b.page.screenshot({ path: out, fullPage: false });
    if (b.blocked.length) throw new Error(`the report tried to load ${b.blocked.join(', ')}`);
    process.stdout.write(`${out}\n`);
  } finally {
    await b.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).message}\n`);
  process.exitCode = 1;
});
