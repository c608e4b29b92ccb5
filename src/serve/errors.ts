// OpenAI-style error responses for `peftmake serve`: {error: {message, type, param, code}} with the HTTP status that
// fits (404 unknown model, 400 bad field, 413 body too large, 401 key, 409 build running, 429 queue full + Retry-After).
import { PeftError } from '../errors.ts';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly headers: Record<string, string> = {},
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export const badRequest = (message: string, param: string | null = null, code: string | null = 'invalid_value') =>
  new HttpError(400, message, 'invalid_request_error', param, code);
export const notFound = (message: string, param: string | null = 'model', code = 'model_not_found') =>
  new HttpError(404, message, 'invalid_request_error', param, code);

/** Any thrown value as the HttpError to answer with: engine and usage errors are the client's (400), the rest 500. */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof PeftError || (err as { code?: string })?.code) {
    const code = String((err as { code: string }).code);
    const msg = (err as Error).message;
    if (code === 'E_BUSY') return new HttpError(429, msg, 'rate_limit_error', null, 'queue_full', { 'retry-after': '1' });
    if (code === 'E_NOT_FOUND') return notFound(msg);
    if (code === 'E_USAGE' || code === 'E_ENGINE' || code === 'E_DATA') return badRequest(msg, null, code.toLowerCase());
    if (code === 'E_LOCKED') return new HttpError(409, msg, 'conflict_error', null, 'locked');
    return new HttpError(500, msg, 'server_error', null, code.toLowerCase());
  }
  return new HttpError(500, `internal error: ${(err as Error)?.message ?? String(err)}`, 'server_error', null, 'internal_error');
}

export function errorBody(e: HttpError): { error: Record<string, unknown> } {
  return { error: { message: e.message, type: e.type, param: e.param, code: e.code, ...e.extra } };
}
