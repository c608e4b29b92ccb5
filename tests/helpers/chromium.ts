// Headless Chromium for the report's browser tests and docs/report.png: Debian's /usr/bin/chromium driven by
// playwright-core, a fresh profile, no network: every request that is not a file: URL is aborted and recorded.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';

export const CHROMIUM = process.env.PEFTMAKE_CHROMIUM ?? '/usr/bin/chromium';

/** Why the browser tests cannot run here ('' when they can). */
export function chromiumSkipReason(): string {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} not found (apt-get install chromium)`;
  return '';
}

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface OfflineBrowser {
  context: BrowserContext;
  page: Page;
  /** Every non-file URL the page tried to load (each was aborted). */
  blocked: string[];
  close(): Promise<void>;
}

/** Starts Chromium with a fresh --user-data-dir; routes every request, letting only file: URLs through. */
export async function openOfflineBrowser(viewport = { width: 1280, height: 900 }): Promise<OfflineBrowser> {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'peftmake-chromium-'));
  // bypassCSP: the report's own Content-Security-Policy would refuse a fetch before the router sees it; bypassing it
  // records every request the page attempts
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport, bypassCSP: true });
  const blocked: string[] = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('file:')) return route.continue();
    blocked.push(url);
    return route.abort('blockedbyclient');
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    blocked,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
