// GET / of `peftmake serve`: the project's report (one graph node per stage) with the inference section counting the
// requests made here, self-contained (no script, no URL out, the CSP header), behind the API key (Bearer, or the key
// as an HTTP Basic password for a browser), reloading every 2 s while a build holds the store's lock.
import { cpSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOOLCHAIN } from '../../../src/cli/toolchain.ts';
import { nativeEngine } from '../../../src/engine/native.ts';
import { startServer, type RunningServer } from '../../../src/serve/server.ts';
import { acquireLock } from '../../../src/store/lock.ts';
import { StoreLayout } from '../../../src/store/layout.ts';
import { TempProject } from '../../helpers/project.ts';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const MODEL = join(ROOT, 'models', 'stories260K');
const skip = existsSync(join(ROOT, 'native', 'build', 'Release', 'peft_engine.node')) ? '' : 'native addon not built (npm run build:native)';
const KEY = 'dashboard-key';
const train = { quant: 'none', compute: 'fp32', lora: { r: 2, alpha: 4, dropout: 0 }, maxSteps: 2, batchSize: 2, seqLen: 32, checkpointEvery: 0 };

describe.skipIf(skip !== '')(`serve's live dashboard at /${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let p: TempProject;
  let s: RunningServer;
  const get = (headers: Record<string, string> = { authorization: `Bearer ${KEY}` }) => fetch(`${s.url}/`, { headers });
  const page = async () => {
    const r = await get();
    expect(r.status).toBe(200);
    return { html: await r.text(), headers: r.headers };
  };

  beforeAll(async () => {
    nativeEngine().setThreads(1);
    p = new TempProject('peftmake-serve-dash-');
    cpSync(join(MODEL, 'ATTRIBUTION.md'), p.path('notes.txt'));
    p.pipeline({
      models: { base: { path: MODEL } },
      datasets: { notes: { model: 'base', source: { files: ['notes.txt'] }, format: 'text', seqLen: 32, split: { valid: 0 } } },
      adapters: { notes: { base: 'base', data: 'notes', ...train } },
      compositions: { notes: { base: 'base', adapters: [{ name: 'notes' }] } },
    });
    expect((await p.build()).ok).toBe(true);
    s = await startServer({ projectDir: p.dir, toolchain: TOOLCHAIN, port: 0, apiKey: KEY, log: () => {} });
  }, 120_000);
  afterAll(async () => {
    await s?.close();
    p?.cleanup();
  });

  it('needs the API key: 401 asking a browser for it, then the key as Bearer token or Basic password', async () => {
    const none = await get({});
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe('invalid_api_key');
    expect((await get({ authorization: `Basic ${Buffer.from('me:wrong').toString('base64')}` })).status).toBe(401);
    expect((await get({ authorization: `Basic ${Buffer.from(`me:${KEY}`).toString('base64')}` })).status).toBe(200);
    // the API routes still take only the Bearer token
    expect((await fetch(`${s.url}/v1/models`, { headers: { authorization: `Basic ${Buffer.from(`me:${KEY}`).toString('base64')}` } })).status).toBe(401);
  });

  it('shows the report (one node per stage) and an inference section counting the requests made', async () => {
    const before = await page();
    expect(before.html).toContain('No generation request yet.');
    const tokens: Record<string, number> = { notes: 0, base: 0 };
    for (const [model, n] of [
      ['notes', 3],
      ['base', 1],
    ] as const)
      for (let i = 0; i < n; i++) {
        const r = await fetch(`${s.url}/v1/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model, prompt: 'Once upon a time', max_tokens: 4 + i, temperature: 0 }),
        });
        expect(r.status).toBe(200);
        tokens[model] += ((await r.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens;
      }
    const { html, headers } = await page();
    const nodes = [...html.matchAll(/<g class="node[^"]*" data-stage="([^"]+)"/g)].map((m) => m[1]);
    expect(nodes.sort()).toEqual(['adapters.notes', 'compositions.notes', 'datasets.notes', 'models.base']);
    for (const [model, n] of [
      ['notes', 3],
      ['base', 1],
    ] as const)
      expect(html).toContain(`<tr data-model="${model}" data-requests="${n}" data-tokens-out="${tokens[model]}">`);
    // the charts over time: one point per time bucket and model, the request counts summing to those made
    const counts = [...html.matchAll(/<circle[^>]*data-y="([\d.]+)"/g)];
    expect(counts.length).toBeGreaterThan(0);
    const requestsChart = html.slice(html.indexOf('data-chart="inference/requests"'), html.indexOf('data-chart="inference/latency"'));
    const ys = [...requestsChart.matchAll(/<circle[^>]*data-y="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(ys.reduce((a, b) => a + b, 0)).toBe(4);
    // self-contained: the report's CSP as a header too, no script, no URL leaving the page, no reload without a build
    expect(headers.get('content-security-policy')).toBe("default-src 'none'; style-src 'unsafe-inline'; img-src data:");
    expect(html).not.toMatch(/<script/i);
    expect([...html.matchAll(/(?:href|src)="([^"]*)"/g)].map((m) => m[1]).filter((u) => !u.startsWith('#'))).toEqual([]);
    expect(html).toContain('<meta http-equiv="refresh" content="15">');
  });

  it('while a build holds the store lock: says so and reloads every 2 s', async () => {
    const lock = await acquireLock(new StoreLayout(p.dir), { command: 'build' });
    try {
      const { html } = await page();
      expect(html).toContain('<meta http-equiv="refresh" content="2">');
      expect(html).toMatch(/data-running="\d+"/);
    } finally {
      lock.release();
    }
  });
});
