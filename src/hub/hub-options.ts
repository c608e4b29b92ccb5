// Settings for hub access, filled from the environment the way huggingface_hub reads it:
// HF_ENDPOINT (hub URL), HF_TOKEN (bearer token), HF_HUB_OFFLINE=1 (cache only), HF_HUB_CACHE / HF_HOME (cache root),
// HF_HUB_DOWNLOAD_TIMEOUT (seconds a response may take to start, or pause between chunks) and PEFTMAKE_HUB_RETRIES (see timed-fetch.ts).
import { hubCacheDir } from './cache-layout.ts';
import { retryPolicy, timedFetch } from './timed-fetch.ts';

export interface HubOptions {
  /** Hub base URL; default $HF_ENDPOINT or https://huggingface.co. Tests point it at a local server. */
  hubUrl?: string;
  /** Access token; default $HF_TOKEN (then $HUGGING_FACE_HUB_TOKEN). Sent as `Authorization: Bearer`. */
  token?: string;
  /** Cache root; default from HF_HUB_CACHE / HF_HOME (see hubCacheDir). */
  cacheDir?: string;
  /** Never touch the network; default true when HF_HUB_OFFLINE is 1/true/yes. */
  offline?: boolean;
  /** Ask the hub what a branch or tag points to now, even when the cache already records it. */
  refresh?: boolean;
  /** Environment to read defaults from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** fetch implementation (default globalThis.fetch). */
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

export interface ResolvedHubOptions {
  hubUrl: string;
  token: string | undefined;
  tokenSource: string | undefined; // 'HF_TOKEN' | 'option' ... for messages
  cacheDir: string;
  offline: boolean;
  refresh: boolean;
  fetch: typeof fetch;
  signal: AbortSignal | undefined;
}

const TRUE_VALUES = new Set(['1', 'true', 'yes', 'on']);

export function resolveHubOptions(opts: HubOptions = {}): ResolvedHubOptions {
  const env = opts.env ?? process.env;
  const envToken = env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || undefined;
  const token = opts.token ?? envToken;
  return {
    hubUrl: (opts.hubUrl ?? env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, ''),
    token,
    tokenSource: opts.token ? 'the token option' : env.HF_TOKEN ? 'HF_TOKEN' : envToken ? 'HUGGING_FACE_HUB_TOKEN' : undefined,
    cacheDir: opts.cacheDir ?? hubCacheDir(env),
    offline: opts.offline ?? TRUE_VALUES.has(String(env.HF_HUB_OFFLINE ?? '').toLowerCase()),
    refresh: opts.refresh ?? false,
    fetch: timedFetch(opts.fetch ?? globalThis.fetch, retryPolicy(env)),
    signal: opts.signal,
  };
}
