// The server's own inference history for the dashboard (GET /): per model, every finished generation request's
// latency, time to first token and generated tokens, in fixed time buckets (the last hour) and as recent samples
// (bounded) for percentiles. In memory, since the server started; /metrics is the scrapeable form.

export interface RequestSample {
  seconds: number; // request duration
  ttft?: number; // time to first token
  tokensOut: number;
}

export interface Bucket {
  start: number; // unix ms of the bucket's start
  requests: number;
  tokensOut: number;
  latencies: number[];
}

export interface ModelHistory {
  model: string;
  requests: number;
  tokensIn: number;
  tokensOut: number;
  /** Seconds spent in requests (for tokens/s of a request: tokensOut / seconds). */
  seconds: number;
  latencies: number[]; // the most recent, at most SAMPLES
  ttfts: number[];
  buckets: Bucket[];
}

const SAMPLES = 10_000;

export class InferenceTimeline {
  readonly started = Date.now();
  private models = new Map<string, ModelHistory>();

  constructor(
    readonly bucketMs = 10_000,
    readonly keepBuckets = 360,
  ) {}

  record(model: string, s: RequestSample & { tokensIn: number }, now = Date.now()): void {
    let h = this.models.get(model);
    if (!h) this.models.set(model, (h = { model, requests: 0, tokensIn: 0, tokensOut: 0, seconds: 0, latencies: [], ttfts: [], buckets: [] }));
    h.requests++;
    h.tokensIn += s.tokensIn;
    h.tokensOut += s.tokensOut;
    h.seconds += s.seconds;
    push(h.latencies, s.seconds);
    if (s.ttft !== undefined) push(h.ttfts, s.ttft);
    const start = now - ((now - this.started) % this.bucketMs);
    let b = h.buckets[h.buckets.length - 1];
    if (!b || b.start !== start) {
      h.buckets.push((b = { start, requests: 0, tokensOut: 0, latencies: [] }));
      if (h.buckets.length > this.keepBuckets) h.buckets.shift();
    }
    b.requests++;
    b.tokensOut += s.tokensOut;
    push(b.latencies, s.seconds);
  }

  /** Every model that served a request, by name. */
  histories(): ModelHistory[] {
    return [...this.models.values()].sort((a, b) => a.model.localeCompare(b.model));
  }
}

function push(xs: number[], x: number): void {
  xs.push(x);
  if (xs.length > SAMPLES) xs.splice(0, xs.length - SAMPLES);
}

/** The q-quantile (0..1) of `xs` by the nearest-rank method; NaN for none. */
export function percentile(xs: readonly number[], q: number): number {
  if (!xs.length) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}
