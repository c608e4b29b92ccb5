// One generation request of the server: `n` sequences of a prompt through the model's batch decoder, text decoded as
// tokens arrive (held back while it may be the start of a stop string or an unfinished UTF-8 character), cut at the
// first stop string (the tokens kept are those whose text comes before it, as `peftmake generate --stop` keeps),
// with per-token log-probabilities when asked. Streaming callers get deltas; everyone gets the final choices.
import type { Runtime } from './registry.ts';
import type { SamplingParams } from './params.ts';

export interface TokenLogprob {
  token: number;
  text: string;
  logprob: number;
  top: { token: number; text: string; logprob: number }[];
}

export interface Choice {
  index: number;
  text: string;
  tokens: number[];
  logprobs: TokenLogprob[];
  finish: 'stop' | 'length' | 'cancelled';
}

export interface GenerationHooks {
  signal: AbortSignal;
  /** New text (and the tokens that completed it) of one choice; `finish` on its last call. */
  onDelta?: (index: number, text: string, logprobs: TokenLogprob[], finish: Choice['finish'] | null) => void;
  /** First token of the request, and each later one (latency metrics). */
  onToken?: () => void;
}

export async function generate(rt: Runtime, prompt: number[], p: SamplingParams & { maxTokens: number }, hooks: GenerationHooks): Promise<Choice[]> {
  const tok = rt.tokenizer;
  const tokenText = (id: number) => {
    try {
      return tok.decode([id], { skipSpecial: true });
    } catch {
      return '';
    }
  };
  const maxStop = Math.max(0, ...p.stop.map((s) => s.length));
  const run = async (index: number): Promise<Choice> => {
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    hooks.signal.addEventListener('abort', onAbort, { once: true });
    const tokens: number[] = [];
    const lps: TokenLogprob[] = [];
    let emitted = 0; // characters of text already handed out
    let emittedTokens = 0; // logprob entries already handed out
    let stopped: { text: string; keep: number } | undefined;
    const flush = (full: string, upTo: number, finish: Choice['finish'] | null, keepTokens: number) => {
      const delta = full.slice(emitted, upTo);
      const newLps = lps.slice(emittedTokens, keepTokens);
      if (delta || newLps.length || finish) {
        emitted = Math.max(emitted, upTo);
        emittedTokens = Math.max(emittedTokens, keepTokens);
        hooks.onDelta?.(index, delta, newLps, finish);
      }
    };
    try {
      const finish = await rt.generate(
        {
          prompt,
          maxTokens: p.maxTokens,
          temperature: p.temperature,
          topP: p.topP,
          topK: p.topK,
          seed: p.seed + index,
          topLogprobs: p.logprobs ?? 0,
          ...(p.ignoreEos ? { eos: [] } : {}),
        },
        {
          signal: ac.signal,
          onToken: (t) => {
            hooks.onToken?.();
            tokens.push(t.token);
            if (p.logprobs !== undefined)
              lps.push({ token: t.token, text: tokenText(t.token), logprob: t.logprob, top: (t.top ?? []).map((x) => ({ ...x, text: tokenText(x.token) })) });
            const full = tok.decode(tokens, { skipSpecial: true });
            let cut = -1;
            for (const s of p.stop) {
              const i = full.indexOf(s, Math.max(0, emitted - s.length));
              if (i >= 0 && (cut < 0 || i < cut)) cut = i;
            }
            if (cut >= 0) {
              // the tokens whose text ends before the stop string
              let keep = 0;
              while (keep < tokens.length && tok.decode(tokens.slice(0, keep + 1), { skipSpecial: true }).length <= cut) keep++;
              stopped = { text: full.slice(0, cut), keep };
              ac.abort();
              return;
            }
            if (t.finish) return;
            // hold back a possible stop-string start and an unfinished multi-byte character
            let safe = full.length;
            if (full.endsWith('\uFFFD')) safe = full.length - 1;
            for (let k = Math.min(maxStop - 1, safe); k > 0; k--)
              if (p.stop.some((s) => s.startsWith(full.slice(safe - k, safe)))) {
                safe -= k;
                break;
              }
            // with logprobs every token goes out as it comes (its text may still be held back)
            if (safe > emitted || lps.length > emittedTokens) flush(full, Math.max(safe, emitted), null, tokens.length);
          },
        },
      );
      if (stopped) {
        tokens.length = stopped.keep;
        lps.length = Math.min(lps.length, stopped.keep);
        flush(stopped.text, stopped.text.length, 'stop', lps.length);
        return { index, text: stopped.text, tokens, logprobs: lps, finish: 'stop' };
      }
      const text = tok.decode(tokens, { skipSpecial: true });
      if (finish !== 'cancelled') flush(text, text.length, finish, lps.length);
      return { index, text, tokens, logprobs: lps, finish };
    } finally {
      hooks.signal.removeEventListener('abort', onAbort);
    }
  };
  return Promise.all(Array.from({ length: p.n }, (_, i) => run(i)));
}
