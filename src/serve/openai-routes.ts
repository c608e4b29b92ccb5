// The OpenAI-compatible routes: GET /v1/models, POST /v1/completions and POST /v1/chat/completions (JSON or SSE
// streams, n choices, logprobs, usage, finish_reason), the adapter stack chosen by `model` and switched per request
// by the extra body field `adapters`.
import { randomUUID } from 'node:crypto';
import type { ChatMessage } from '../hf/chat-template.ts';
import { badRequest } from './errors.ts';
import { generate, type Choice, type TokenLogprob } from './generation.ts';
import { readJson, sendJson, sse, type RequestContext, type Router } from './http.ts';
import { adapterOverrides, chatMessages, completionPrompt, requireModel, samplingParams, type SamplingParams } from './params.ts';
import { chatPromptIds } from './chat-prompt.ts';
import type { ModelRegistry, Runtime, ServedModel } from './registry.ts';
import type { ServeMetrics } from './metrics.ts';
import type { InferenceTimeline } from './timeline.ts';

export interface RouteDeps {
  registry: ModelRegistry;
  metrics: ServeMetrics;
  bodyLimit: number;
  /** The dashboard's history: each finished generation request (absent: not recorded). */
  timeline?: InferenceTimeline;
}

export function modelObject(m: ServedModel) {
  return {
    id: m.id,
    object: 'model',
    created: m.created,
    owned_by: 'peftmake',
    kind: m.kind,
    stage: m.stage,
    version: m.version,
    key: m.key,
    base: m.base.name,
    adapters: m.adapters.map((a) => ({ name: a.name, weight: a.weight })),
  };
}

export function addOpenAIRoutes(router: Router, deps: RouteDeps): void {
  router.add('GET', '/v1/models', (ctx) => {
    const list = deps.registry.list();
    sendJson(ctx.res, 200, { object: 'list', data: list.map(modelObject) });
  });
  router.add('POST', '/v1/completions', (ctx) => completion(ctx, deps, false));
  router.add('POST', '/v1/chat/completions', (ctx) => completion(ctx, deps, true));
}

/** The prompt's token ids for a model, and the checks against its context (400 with both numbers). */
export function promptIds(rt: Runtime, model: ServedModel, input: { text: string } | { ids: number[] } | { messages: ChatMessage[] }): number[] {
  const ids =
    'ids' in input
      ? input.ids
      : 'messages' in input
        ? chatPromptIds(rt.tokenizer, input.messages, model.prompt, rt.seq2seq)
        : rt.seq2seq
          ? [...rt.tokenizer.encode(input.text, { special: false }), rt.seq2seq.eos]
          : rt.tokenizer.encode(input.text, { special: true });
  const vocab = rt.vocabSize;
  for (const id of ids)
    if (id >= vocab) throw badRequest(`'prompt' holds token id ${id}, outside the vocabulary of ${model.base.name} (size ${vocab})`, 'prompt');
  if (ids.length === 0) throw badRequest("'prompt' is empty after tokenization (at least one token is needed)", 'prompt');
  return ids;
}

/**
 * max_tokens checked against the context: the default fills it (capped by `dflt`). A decoder's context holds the prompt
 * and the answer together; an encoder-decoder's (T5) holds each of them.
 */
export function maxTokensFor(rt: Runtime, promptLen: number, asked: number | undefined, dflt: number): number {
  const ctx = rt.context;
  if (rt.seq2seq) {
    if (promptLen > ctx)
      throw badRequest(`the prompt has ${promptLen} tokens, more than the model's context of ${ctx} tokens`, 'messages', 'context_length_exceeded');
    if (asked !== undefined && asked > ctx)
      throw badRequest(`max_tokens (${asked}) is more than the model's context of ${ctx} tokens for the answer`, 'max_tokens', 'context_length_exceeded');
    return asked ?? Math.min(dflt, ctx);
  }
  if (promptLen >= ctx)
    throw badRequest(
      `the prompt has ${promptLen} tokens; the model's context is ${ctx} tokens, which leaves no room to generate`,
      'messages',
      'context_length_exceeded',
    );
  if (asked !== undefined && promptLen + asked > ctx)
    throw badRequest(
      `the prompt (${promptLen} tokens) plus max_tokens (${asked}) is ${promptLen + asked} tokens, more than the model's context of ${ctx} tokens`,
      'max_tokens',
      'context_length_exceeded',
    );
  return asked ?? Math.min(dflt, ctx - promptLen);
}

async function completion(ctx: RequestContext, deps: RouteDeps, chat: boolean): Promise<void> {
  const body = await readJson(ctx, deps.bodyLimit);
  const modelId = requireModel(body);
  const params = samplingParams(body, chat);
  const overrides = adapterOverrides(body);
  const input = chat ? { messages: chatMessages(body) } : completionPrompt(body);
  const model = deps.registry.resolve(modelId, overrides);
  ctx.log.model = model.id;
  const rt = await deps.registry.runtime(model);
  const prompt = promptIds(rt, model, input);
  const maxTokens = maxTokensFor(rt, prompt.length, params.maxTokens, chat ? 1 << 20 : 16);
  ctx.log.tokensIn = prompt.length;
  deps.metrics.modelRequests.inc({ model: model.name });
  deps.metrics.tokensIn.inc({ model: model.name }, prompt.length);
  const id = `${chat ? 'chatcmpl' : 'cmpl'}-${randomUUID().replace(/-/g, '')}`;
  const created = Math.floor(Date.now() / 1000);
  const t0 = performance.now();
  let last = 0;
  const onToken = () => {
    const now = performance.now();
    if (!last) {
      ctx.log.ttft = (now - t0) / 1000;
      deps.metrics.ttft.observe(ctx.log.ttft, { model: model.name });
    } else deps.metrics.itl.observe((now - last) / 1000, { model: model.name });
    last = now;
  };
  const usage = (choices: Choice[]) => {
    const out = choices.reduce((s, c) => s + c.tokens.length, 0);
    ctx.log.tokensOut = out;
    deps.metrics.tokensOut.inc({ model: model.name }, out);
    deps.timeline?.record(model.name, { seconds: (performance.now() - t0) / 1000, ttft: ctx.log.ttft, tokensIn: prompt.length, tokensOut: out });
    return { prompt_tokens: prompt.length, completion_tokens: out, total_tokens: prompt.length + out };
  };
  const p = { ...params, maxTokens };
  if (!params.stream) {
    const choices = await generate(rt, prompt, p, { signal: ctx.signal, onToken });
    if (ctx.signal.aborted) return;
    const u = usage(choices);
    sendJson(ctx.res, 200, {
      id,
      object: chat ? 'chat.completion' : 'text_completion',
      created,
      model: model.id,
      choices: choices.map((c) =>
        chat
          ? { index: c.index, message: { role: 'assistant', content: c.text }, logprobs: chatLogprobs(c.logprobs, params), finish_reason: c.finish }
          : { index: c.index, text: c.text, logprobs: completionLogprobs(c.logprobs, params), finish_reason: c.finish },
      ),
      usage: u,
    });
    return;
  }
  const stream = sse(ctx.res);
  const object = chat ? 'chat.completion.chunk' : 'text_completion';
  const started = new Set<number>();
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) => stream.send({ id, object, created, model: model.id, choices, ...extra });
  const choices = await generate(rt, prompt, p, {
    signal: ctx.signal,
    onToken,
    onDelta: (index, text, lps, finish) => {
      if (chat) {
        const delta: Record<string, string> = {};
        if (!started.has(index)) {
          started.add(index);
          delta.role = 'assistant';
        }
        if (text || delta.role) delta.content = text;
        chunk([{ index, delta, logprobs: chatLogprobs(lps, params), finish_reason: finish }]);
      } else {
        chunk([{ index, text, logprobs: completionLogprobs(lps, params), finish_reason: finish }]);
      }
    },
  });
  if (ctx.signal.aborted) return;
  const u = usage(choices);
  if (params.includeUsage) chunk([], { usage: u });
  stream.done();
}

function completionLogprobs(lps: TokenLogprob[], p: SamplingParams) {
  if (p.logprobs === undefined) return null;
  return {
    tokens: lps.map((l) => l.text),
    token_logprobs: lps.map((l) => l.logprob),
    top_logprobs: lps.map((l) => Object.fromEntries(l.top.map((t) => [t.text, t.logprob]))),
    text_offset: lps.reduce<number[]>((acc, _l, i) => (acc.push(i ? acc[i - 1] + lps[i - 1].text.length : 0), acc), []),
  };
}

function chatLogprobs(lps: TokenLogprob[], p: SamplingParams) {
  if (p.logprobs === undefined) return null;
  const bytes = (s: string) => Array.from(Buffer.from(s, 'utf8'));
  return {
    content: lps.map((l) => ({
      token: l.text,
      logprob: l.logprob,
      bytes: bytes(l.text),
      top_logprobs: l.top.map((t) => ({ token: t.text, logprob: t.logprob, bytes: bytes(t.text) })),
    })),
  };
}
