// `peftmake serve` as a library: an HTTP server over a project's store with the OpenAI-compatible routes, the
// fine-tuning routes, /health, /metrics and the live dashboard at /; Bearer-key auth when a key is set; one log line per request; every
// failure answered as an OpenAI error object, and no request's failure ever stops the server.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import type { ComputeMode, Quant } from '../engine/model.ts';
import type { Toolchain } from '../stage.ts';
import { nativeEngine } from '../engine/native.ts';
import { HttpError, toHttpError } from './errors.ts';
import { Router, sendError, sendJson, type RequestContext } from './http.ts';
import { ServeMetrics } from './metrics.ts';
import { addOpenAIRoutes } from './openai-routes.ts';
import { addFineTuningRoutes, type FineTuningOptions } from './finetune-routes.ts';
import { ModelRegistry } from './registry.ts';
import { addDashboard } from './dashboard.ts';
import { InferenceTimeline } from './timeline.ts';

export interface ServeOptions {
  projectDir: string;
  toolchain: Toolchain; // the stage kinds (what inference loads for each) and the engine version: src/cli/toolchain.ts
  host?: string; // default 127.0.0.1
  port?: number; // default 8000; 0 picks a free one
  apiKey?: string;
  quant?: Quant;
  compute?: ComputeMode; // the base's compute mode (default fp32; bf16 / auto: bf16 products where the CPU has them)
  threads?: number;
  maxBatch?: number;
  maxPrefillTokens?: number; // prompt tokens joining the running batch per step at most (default 512; one longer prompt joins alone)
  maxQueue?: number;
  kvBudgetBytes?: number;
  bodyLimit?: number; // bytes (default 4 MiB)
  fineTuning?: FineTuningOptions;
  log?: (line: string) => void;
}

export interface RunningServer {
  server: Server;
  url: string;
  port: number;
  registry: ModelRegistry;
  metrics: ServeMetrics;
  timeline: InferenceTimeline;
  close(): Promise<void>;
}

export async function startServer(o: ServeOptions): Promise<RunningServer> {
  if (o.threads !== undefined) nativeEngine().setThreads(o.threads);
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const metrics = new ServeMetrics();
  const registry = new ModelRegistry(o.projectDir, o.toolchain, {
    quant: o.quant,
    compute: o.compute,
    batch: { maxBatch: o.maxBatch, maxQueue: o.maxQueue, kvBudgetBytes: o.kvBudgetBytes, prefillRows: o.maxPrefillTokens },
    onStep: (rows, s, prefill) => metrics.step(rows, s, prefill),
  });
  const bodyLimit = o.bodyLimit ?? 4 * 1024 * 1024;
  const router = new Router();
  const started = Date.now();
  router.add('GET', '/health', (ctx) =>
    sendJson(ctx.res, 200, { status: 'ok', uptime_s: Math.round((Date.now() - started) / 1000), models: registry.list().length }),
  );
  router.add('GET', '/metrics', (ctx) => {
    const text = metrics.render();
    ctx.res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    ctx.res.end(text);
  });
  const timeline = new InferenceTimeline();
  addOpenAIRoutes(router, { registry, metrics, bodyLimit, timeline });
  const fineTuning = addFineTuningRoutes(router, {
    registry,
    metrics,
    bodyLimit,
    projectDir: o.projectDir,
    toolchain: o.toolchain,
    log,
    timeline,
    ...o.fineTuning,
  });
  addDashboard(router, { projectDir: o.projectDir, pipelineFile: o.fineTuning?.pipelineFile, toolchain: o.toolchain, timeline });
  let decoders: Awaited<ReturnType<ModelRegistry['decoders']>> = [];
  metrics.gauges = () => [
    { name: 'peftmake_queue_depth', help: 'requests waiting for a batch row', value: decoders.reduce((s, d) => s + d.stats.queued, 0) },
    { name: 'peftmake_running_sequences', help: 'sequences in the running batches', value: decoders.reduce((s, d) => s + d.stats.running, 0) },
    { name: 'peftmake_kv_cache_bytes', help: 'KV cache bytes reserved by running sequences', value: decoders.reduce((s, d) => s + d.stats.kvUsedBytes, 0) },
    { name: 'peftmake_models_served', help: 'models GET /v1/models lists', value: registry.list().length },
  ];

  const server = createServer((req, res) => {
    const t0 = performance.now();
    const url = new URL(req.url ?? '/', 'http://localhost');
    const ac = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) ac.abort();
    });
    const ctx: RequestContext = { req, res, url, signal: ac.signal, log: {} };
    let route = 'unmatched';
    const handle = async () => {
      try {
        const m = router.match(req.method ?? 'GET', url.pathname);
        route = m.route;
        if (o.apiKey && url.pathname !== '/health') checkKey(req.headers.authorization, o.apiKey, DASHBOARD_ROUTES.has(m.route));
        if (m.route.endsWith('/metrics')) decoders = await registry.decoders();
        await m.handler(ctx);
      } catch (err) {
        const e = toHttpError(err);
        if (e.status >= 500) log(`error ${req.method} ${url.pathname}: ${(err as Error)?.stack ?? String(err)}`);
        if (!ac.signal.aborted) sendError(res, e);
      } finally {
        const secs = (performance.now() - t0) / 1000;
        const status = ac.signal.aborted && !res.writableFinished ? 499 : res.statusCode;
        metrics.requests.inc({ route, status: String(status) });
        metrics.latency.observe(secs, { route });
        const l = ctx.log;
        log(
          `${new Date().toISOString()} ${req.method} ${url.pathname} ${status} ${(secs * 1000).toFixed(1)}ms` +
            (l.model ? ` model=${l.model}` : '') +
            (l.tokensIn !== undefined ? ` tokens_in=${l.tokensIn}` : '') +
            (l.tokensOut !== undefined ? ` tokens_out=${l.tokensOut}` : '') +
            (l.ttft !== undefined ? ` ttft=${(l.ttft * 1000).toFixed(1)}ms` : '') +
            (ac.signal.aborted ? ' (client went away: generation cancelled)' : ''),
        );
      }
    };
    void handle();
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 8000, o.host ?? '127.0.0.1', () => resolve());
  });
  registry.watch((stage, from, to) =>
    log(`${new Date().toISOString()} store: ${stage} ${from === undefined ? 'appeared at' : `v${from} ->`} v${to}; served from the next request`),
  );
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    server,
    url: `http://${host}:${addr.port}`,
    port: addr.port,
    registry,
    metrics,
    timeline,
    close: async () => {
      fineTuning.close();
      registry.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** The routes a browser opens: they take the key as HTTP Basic auth too (any user name, the key as password). */
const DASHBOARD_ROUTES = new Set(['GET /', 'GET /index.html']);

/**
 * The API key as a Bearer token; for the dashboard also as the password of HTTP Basic auth, which a browser asks for
 * itself on a 401 with `WWW-Authenticate: Basic` (it cannot send a Bearer token without a script).
 */
function checkKey(header: string | undefined, key: string, browser = false): void {
  const challenge = { 'www-authenticate': browser ? 'Basic realm="peftmake serve", charset="UTF-8"' : 'Bearer' };
  const bearer = /^Bearer\s+(.+)$/i.exec(header ?? '');
  const basic = browser ? /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header ?? '') : null;
  const given = bearer
    ? bearer[1].trim()
    : basic
      ? Buffer.from(basic[1], 'base64')
          .toString('utf8')
          .replace(/^[^:]*:/, '')
      : undefined;
  if (given === undefined)
    throw new HttpError(
      401,
      `missing API key: send "Authorization: Bearer <key>"${browser ? ' (a browser: the key as the password)' : ''}`,
      'invalid_request_error',
      null,
      'invalid_api_key',
      challenge,
    );
  const a = Buffer.from(given);
  const b = Buffer.from(key);
  if (a.length !== b.length || !timingSafeEqual(a, b))
    throw new HttpError(401, 'incorrect API key', 'invalid_request_error', null, 'invalid_api_key', challenge);
}
