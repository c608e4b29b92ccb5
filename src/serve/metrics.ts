// Prometheus text-format metrics of `peftmake serve`: labelled counters, histograms (cumulative buckets, sum, count)
// and gauges read when scraped.
type Labels = Record<string, string>;

const key = (l: Labels) => JSON.stringify(Object.entries(l).sort(([a], [b]) => (a < b ? -1 : 1)));
const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const fmtLabels = (l: Labels, extra?: [string, string]) => {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${esc(v)}"`);
  if (extra) parts.push(`${extra[0]}="${esc(extra[1])}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
};
const num = (x: number) => (Number.isFinite(x) ? String(x) : x > 0 ? '+Inf' : x < 0 ? '-Inf' : 'NaN');

class Counter {
  private values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = key(labels);
    const v = this.values.get(k) ?? { labels, value: 0 };
    v.value += by;
    this.values.set(k, v);
  }
  get(labels: Labels = {}): number {
    return this.values.get(key(labels))?.value ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const v of this.values.values()) lines.push(`${this.name}${fmtLabels(v.labels)} ${num(v.value)}`);
    return lines.join('\n');
  }
}

class Histogram {
  private values = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: number[],
  ) {}
  observe(x: number, labels: Labels = {}): void {
    const k = key(labels);
    const v = this.values.get(k) ?? { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
    this.buckets.forEach((b, i) => x <= b && v.counts[i]++);
    v.sum += x;
    v.count++;
    this.values.set(k, v);
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const v of this.values.values()) {
      this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket${fmtLabels(v.labels, ['le', num(b)])} ${v.counts[i]}`));
      lines.push(`${this.name}_bucket${fmtLabels(v.labels, ['le', '+Inf'])} ${v.count}`);
      lines.push(`${this.name}_sum${fmtLabels(v.labels)} ${num(v.sum)}`, `${this.name}_count${fmtLabels(v.labels)} ${v.count}`);
    }
    return lines.join('\n');
  }
}

const LATENCY = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class ServeMetrics {
  readonly requests = new Counter('peftmake_requests_total', 'HTTP requests by route and status');
  readonly modelRequests = new Counter('peftmake_model_requests_total', 'generation requests by model');
  readonly tokensIn = new Counter('peftmake_prompt_tokens_total', 'prompt tokens by model');
  readonly tokensOut = new Counter('peftmake_generated_tokens_total', 'generated tokens by model');
  readonly ttft = new Histogram('peftmake_time_to_first_token_seconds', 'time from request to first generated token', LATENCY);
  readonly itl = new Histogram('peftmake_inter_token_latency_seconds', 'time between consecutive generated tokens of a request', LATENCY);
  readonly latency = new Histogram('peftmake_request_duration_seconds', 'request duration by route', LATENCY);
  readonly batch = new Histogram('peftmake_batch_size', 'sequences advanced per decode step', [1, 2, 4, 8, 16, 32, 64]);
  private decodeTokens = 0;
  private decodeSeconds = 0;
  /**
   * Decoder step totals since start, split by kind: steps that ran only decode rows, and steps that also prefilled
   * prompt rows (their tokens are the prompts' first tokens plus the decode rows sharing the step). The bench reads them.
   */
  readonly steps = { decodeSteps: 0, decodeRows: 0, decodeSeconds: 0, prefillSteps: 0, prefillRows: 0, prefillSeconds: 0 };
  /** Gauges read at scrape time. */
  gauges: () => { name: string; help: string; value: number }[] = () => [];

  step(rows: number, seconds: number, prefillRows = 0): void {
    this.batch.observe(rows);
    this.decodeTokens += rows;
    this.decodeSeconds += seconds;
    const st = this.steps;
    if (prefillRows > 0) {
      st.prefillSteps++;
      st.prefillRows += prefillRows;
      st.prefillSeconds += seconds;
    } else {
      st.decodeSteps++;
      st.decodeRows += rows;
      st.decodeSeconds += seconds;
    }
  }

  render(): string {
    const g = [
      ...this.gauges(),
      {
        name: 'peftmake_decode_tokens_per_second',
        help: 'tokens per second of decode-step time since start',
        value: this.decodeSeconds > 0 ? this.decodeTokens / this.decodeSeconds : 0,
      },
      {
        name: 'peftmake_prefill_tokens_per_second',
        help: 'prompt tokens per second of the time of the decoder steps that prefilled them, since start',
        value: this.steps.prefillSeconds > 0 ? this.steps.prefillRows / this.steps.prefillSeconds : 0,
      },
    ];
    const gauges = g.map((x) => `# HELP ${x.name} ${x.help}\n# TYPE ${x.name} gauge\n${x.name} ${num(x.value)}`);
    return (
      [this.requests, this.modelRequests, this.tokensIn, this.tokensOut, this.ttft, this.itl, this.latency, this.batch]
        .map((m) => m.render())
        .concat(gauges)
        .join('\n') + '\n'
    );
  }
}
