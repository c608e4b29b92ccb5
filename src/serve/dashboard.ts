// GET / of `peftmake serve`: the project's report (src/report: pipeline graph, loss curves, evals, versions, datasets)
// built fresh on each request, so a running build shows its progress and its loss curve growing from the resume area
// (the page reloads every 2 s while it runs, every 15 s otherwise), followed by the server's inference section.
// Self-contained as the report: no script, nothing fetched, the same Content-Security-Policy also sent as a header.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { statusOf } from '../exec/build.ts';
import { PeftError } from '../errors.ts';
import { esc } from '../report/html/escape.ts';
import { documentHtml, renderReportHtml } from '../report/html/page.ts';
import { projectReportModel } from '../report/index.ts';
import type { Toolchain } from '../stage.ts';
import type { RequestContext, Router } from './http.ts';
import { inferenceSection } from './inference-section.ts';
import type { InferenceTimeline } from './timeline.ts';

export const DASHBOARD_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

export interface DashboardDeps {
  projectDir: string;
  pipelineFile?: string; // default <project>/pipeline.json
  toolchain: Toolchain;
  timeline: InferenceTimeline;
}

export async function dashboardHtml(d: DashboardDeps): Promise<string> {
  const file = d.pipelineFile ?? join(d.projectDir, 'pipeline.json');
  const inference = inferenceSection(d.timeline);
  const refresh = { refreshSeconds: 2, idleRefreshSeconds: 15 };
  let problem: string;
  if (existsSync(file)) {
    try {
      const model = await projectReportModel(file, {
        kinds: d.toolchain.kinds,
        plan: async (pipeline) => (await statusOf({ pipeline, toolchain: d.toolchain })).stages,
      });
      return renderReportHtml(model, { ...refresh, extraSections: inference });
    } catch (err) {
      if (!(err instanceof PeftError)) throw err;
      // an invalid pipeline.json (mid-edit, say): say so and still show the inference side
      problem = `${err.message}${err.details.hint ? `; ${err.details.hint}` : ''}`;
    }
  } else problem = `${file} does not exist: only what this server answered is shown`;
  const body = `<header><h1>peftmake serve: ${esc(d.projectDir)}</h1></header><p class="problems" data-problems="1">${esc(problem)}</p><main>${inference}</main>`;
  return documentHtml('peftmake serve', body, `\n<meta http-equiv="refresh" content="${refresh.idleRefreshSeconds}">`);
}

export function addDashboard(router: Router, d: DashboardDeps): void {
  const page = async (ctx: RequestContext) => {
    const html = await dashboardHtml(d);
    ctx.res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': DASHBOARD_CSP, 'cache-control': 'no-store' });
    ctx.res.end(html);
  };
  router.add('GET', '/', page);
  router.add('GET', '/index.html', page);
}
