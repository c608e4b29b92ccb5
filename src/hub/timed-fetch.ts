// Every hub request with a timeout and retries: a response must start within the timeout (HF_HUB_DOWNLOAD_TIMEOUT
// seconds, huggingface_hub's setting; default 30), and a timeout, a network error or a 429 / 5xx answer is retried
// with exponential backoff (PEFTMAKE_HUB_RETRIES more tries, default 3). Its body must keep coming: a pause longer
// than the timeout between two chunks ends the read with an error naming the URL and the setting. The user's cancel
// still cancels at once.
import { PeftError } from '../errors.ts';

export interface RetryPolicy {
  timeoutMs: number;
  retries: number;
  backoffMs: number;
}

export function retryPolicy(env: NodeJS.ProcessEnv): RetryPolicy {
  const num = (v: string | undefined, dflt: number, what: string): number => {
    if (v === undefined || v === '') return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0)
      throw new PeftError('E_USAGE', `${what}=${v}: expected a non-negative number`, { hint: `unset ${what} or give a number` });
    return n;
  };
  return {
    timeoutMs: num(env.HF_HUB_DOWNLOAD_TIMEOUT, 30, 'HF_HUB_DOWNLOAD_TIMEOUT') * 1000,
    retries: Math.floor(num(env.PEFTMAKE_HUB_RETRIES, 3, 'PEFTMAKE_HUB_RETRIES')),
    backoffMs: 500,
  };
}

const RETRY_STATUS = new Set([429, 500, 502, 503, 504]);

function urlOf(input: Parameters<typeof fetch>[0]): string {
  return typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
}

export function timedFetch(base: typeof fetch, policy: RetryPolicy): typeof fetch {
  return (async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
    const user = init?.signal ?? undefined;
    let lastProblem: string;
    for (let attempt = 0; ; attempt++) {
      const timer = new AbortController();
      const t = setTimeout(() => timer.abort(), policy.timeoutMs);
      const signal = user ? AbortSignal.any([user, timer.signal]) : timer.signal;
      try {
        const res = await base(input, { ...init, signal });
        clearTimeout(t); // the response started: from here on, the body's idle timeout applies
        if (!RETRY_STATUS.has(res.status) || attempt >= policy.retries) return idleTimedBody(res, urlOf(input), policy.timeoutMs, timer);
        lastProblem = `HTTP ${res.status}`;
        await res.body?.cancel();
      } catch (e) {
        clearTimeout(t);
        if (user?.aborted) throw e;
        const timedOut = timer.signal.aborted;
        // Refused or unknown host: retrying in seconds will not help; the caller says "cannot reach the hub".
        const code = (e as { cause?: { code?: string } }).cause?.code;
        if (!timedOut && (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || attempt >= policy.retries)) throw e;
        lastProblem = timedOut ? `no answer within ${policy.timeoutMs / 1000} s` : String((e as Error).message);
        if (attempt >= policy.retries) {
          const host = new URL(urlOf(input)).origin;
          throw new PeftError('E_HUB', `the hub at ${host} did not answer ${urlOf(input)}: ${lastProblem} (${attempt + 1} tries)`, {
            hint: 'check the network or HF_ENDPOINT; HF_HUB_DOWNLOAD_TIMEOUT=<seconds> waits longer, PEFTMAKE_HUB_RETRIES=<n> tries more, HF_HUB_OFFLINE=1 uses the cache only',
          });
        }
      }
      const delay = policy.backoffMs * 2 ** attempt * (0.75 + Math.random() * 0.5);
      await new Promise((r) => setTimeout(r, delay));
      if (user?.aborted) throw user.reason ?? new Error('aborted');
    }
  }) as typeof fetch;
}

const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);

/**
 * The response with a body that fails when the server sends nothing for `ms` between two chunks (headers sent, then
 * silence): the request is aborted and the read rejects with an E_HUB error naming the URL. The clock runs only while
 * the caller waits for data, never while it is busy with a chunk.
 */
function idleTimedBody(res: Response, url: string, ms: number, timer: AbortController): Response {
  if (!res.body || NULL_BODY_STATUS.has(res.status)) return res;
  const reader = res.body.getReader();
  let bytes = 0;
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(ctrl) {
        let stalled = false;
        const t = setTimeout(() => {
          stalled = true;
          timer.abort();
        }, ms);
        try {
          const { done, value } = await reader.read();
          if (done) ctrl.close();
          else {
            bytes += value.byteLength;
            ctrl.enqueue(value);
          }
        } catch (e) {
          if (!stalled) throw e;
          throw new PeftError(
            'E_HUB',
            `the hub at ${new URL(url).origin} stopped sending ${url}: no data for ${ms / 1000} s after ${bytes} byte(s) of the response`,
            { hint: 'check the network or HF_ENDPOINT; HF_HUB_DOWNLOAD_TIMEOUT=<seconds> waits longer between chunks, then build again' },
          );
        } finally {
          clearTimeout(t);
        }
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  const out = new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  Object.defineProperty(out, 'url', { value: res.url });
  Object.defineProperty(out, 'redirected', { value: res.redirected });
  return out;
}
