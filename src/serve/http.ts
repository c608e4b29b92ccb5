// HTTP plumbing of `peftmake serve` on Node's http module: a method + path router, the request body read under a size
// limit (413 past it), JSON parsing (400 naming the problem), JSON and server-sent-event responses.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { badRequest, errorBody, HttpError } from './errors.ts';

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** Aborts when the client goes away before the response is complete. */
  signal: AbortSignal;
  /** Filled by handlers for the request log line and the metrics. */
  log: { model?: string; tokensIn?: number; tokensOut?: number; ttft?: number };
}

export type Handler = (ctx: RequestContext) => Promise<void> | void;

export class Router {
  private routes: { method: string; path: string; handler: Handler; route: string }[] = [];
  add(method: string, path: string, handler: Handler): this {
    this.routes.push({ method, path, handler, route: `${method} ${path}` });
    return this;
  }
  /** The handler and its route label; 404 for an unknown path, 405 for a known path with another method. */
  match(method: string, path: string): { handler: Handler; route: string } {
    const hits = this.routes.filter((r) => r.path === path);
    const hit = hits.find((r) => r.method === method);
    if (hit) return hit;
    if (hits.length)
      throw new HttpError(
        405,
        `${method} is not allowed on ${path} (use ${hits.map((h) => h.method).join(' or ')})`,
        'invalid_request_error',
        null,
        'method_not_allowed',
        {
          allow: hits.map((h) => h.method).join(', '),
        },
      );
    throw new HttpError(404, `no route ${method} ${path}`, 'invalid_request_error', null, 'not_found');
  }
}

/** The raw body, refused with 413 as soon as it passes `limit` bytes. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.reject(tooLarge(declared, limit));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(tooLarge(size, limit));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function tooLarge(size: number, limit: number): HttpError {
  return new HttpError(413, `the request body is larger than ${limit} bytes (got at least ${size})`, 'invalid_request_error', null, 'body_too_large');
}

/** The body as a JSON object (400 when it is not JSON or not an object). */
export async function readJson(ctx: RequestContext, limit: number): Promise<Record<string, unknown>> {
  const buf = await readBody(ctx.req, limit);
  let v: unknown;
  try {
    v = JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw badRequest(`the request body is not valid JSON: ${(err as Error).message}`, null, 'invalid_json');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw badRequest('the request body must be a JSON object', null, 'invalid_json');
  return v as Record<string, unknown>;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, e: HttpError): void {
  if (res.headersSent) {
    // mid-stream (SSE): the error goes out as one more event, then the stream ends
    if (!res.writableEnded) res.end(`data: ${JSON.stringify(errorBody(e))}\n\n`);
    return;
  }
  sendJson(res, e.status, errorBody(e), e.headers);
}

/** Starts a server-sent-event stream; `send` writes one `data:` event, `done` the final `[DONE]`. */
export function sse(res: ServerResponse): { send(data: unknown): void; done(): void } {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  res.flushHeaders();
  return {
    send: (data) => void (!res.writableEnded && res.write(`data: ${JSON.stringify(data)}\n\n`)),
    done: () => void (!res.writableEnded && res.end('data: [DONE]\n\n')),
  };
}
