// Checks the body of an OpenAI completion / chat completion request field by field (400 naming the field and what it
// must be) and turns it into sampling parameters; unknown fields are ignored, as OpenAI-compatible servers do.
import type { ChatMessage } from '../hf/chat-template.ts';
import { badRequest } from './errors.ts';
import type { AdapterOverrides } from './registry.ts';

export interface SamplingParams {
  maxTokens?: number; // undefined: the endpoint's default
  temperature: number;
  topP: number;
  topK: number;
  seed: number;
  n: number;
  stop: string[];
  logprobs?: number; // alternatives per token; undefined: no logprobs
  stream: boolean;
  includeUsage: boolean;
  ignoreEos: boolean; // vLLM's extension: generate max_tokens tokens even past EOS (benchmarks)
}

type Body = Record<string, unknown>;

const typeName = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`);

function opt<T>(b: Body, field: string, check: (v: unknown) => v is T, what: string): T | undefined {
  const v = b[field];
  if (v === undefined || v === null) return undefined;
  if (!check(v))
    throw badRequest(
      `'${field}' must be ${what}, got ${typeName(v)}${typeof v === 'number' || typeof v === 'string' ? ` (${JSON.stringify(v)})` : ''}`,
      field,
      'invalid_type',
    );
  return v;
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isInt = (v: unknown): v is number => Number.isInteger(v);
const isBool = (v: unknown): v is boolean => typeof v === 'boolean';
const isStr = (v: unknown): v is string => typeof v === 'string';

function range(field: string, v: number | undefined, lo: number, hi: number, loOpen = false): number | undefined {
  if (v === undefined) return v;
  if (v > hi || v < lo || (loOpen && v === lo)) throw badRequest(`'${field}' must be in ${loOpen ? '(' : '['}${lo}, ${hi}], got ${v}`, field);
  return v;
}

export function requireModel(b: Body): string {
  const m = b.model;
  if (m === undefined || m === null)
    throw badRequest("'model' is required (a composition, adapter or model name; GET /v1/models lists them)", 'model', 'missing_field');
  if (typeof m !== 'string' || m === '') throw badRequest(`'model' must be a non-empty string, got ${typeName(m)}`, 'model', 'invalid_type');
  return m;
}

export function samplingParams(b: Body, chat: boolean): SamplingParams {
  const maxTokens =
    range('max_tokens', opt(b, 'max_tokens', isInt, 'an integer'), 1, 1 << 20) ??
    range('max_completion_tokens', opt(b, 'max_completion_tokens', isInt, 'an integer'), 1, 1 << 20);
  const temperature = range('temperature', opt(b, 'temperature', isNum, 'a number'), 0, 2) ?? 1;
  const topP = range('top_p', opt(b, 'top_p', isNum, 'a number'), 0, 1, true) ?? 1;
  const topK = range('top_k', opt(b, 'top_k', isInt, 'an integer'), -1, 1 << 30) ?? 0;
  const seed = opt(b, 'seed', isInt, 'an integer') ?? 0;
  if (seed < 0) throw badRequest(`'seed' must be a non-negative integer, got ${seed}`, 'seed');
  const n = range('n', opt(b, 'n', isInt, 'an integer'), 1, 16) ?? 1;
  const stopRaw = b.stop;
  let stop: string[] = [];
  if (typeof stopRaw === 'string') stop = [stopRaw];
  else if (Array.isArray(stopRaw) && stopRaw.every(isStr)) stop = stopRaw;
  else if (stopRaw !== undefined && stopRaw !== null)
    throw badRequest(`'stop' must be a string or an array of strings, got ${typeName(stopRaw)}`, 'stop', 'invalid_type');
  if (stop.length > 4) throw badRequest(`'stop' takes at most 4 sequences, got ${stop.length}`, 'stop');
  stop = stop.filter((s) => s !== '');
  for (const f of ['presence_penalty', 'frequency_penalty'] as const) {
    const v = opt(b, f, isNum, 'a number');
    if (v !== undefined && v !== 0) throw badRequest(`'${f}' is not supported by this server (only 0)`, f, 'unsupported_value');
  }
  let logprobs: number | undefined;
  if (chat) {
    const lp = opt(b, 'logprobs', isBool, 'a boolean');
    const top = range('top_logprobs', opt(b, 'top_logprobs', isInt, 'an integer'), 0, 20);
    if (top !== undefined && !lp) throw badRequest("'top_logprobs' needs 'logprobs': true", 'top_logprobs');
    logprobs = lp ? (top ?? 0) : undefined;
  } else {
    logprobs = range('logprobs', opt(b, 'logprobs', isInt, 'an integer'), 0, 20);
  }
  const stream = opt(b, 'stream', isBool, 'a boolean') ?? false;
  const so = opt(b, 'stream_options', (v): v is Body => typeof v === 'object' && !Array.isArray(v), 'an object');
  const includeUsage = so ? (opt(so, 'include_usage', isBool, 'a boolean') ?? false) : false;
  const ignoreEos = opt(b, 'ignore_eos', isBool, 'a boolean') ?? false;
  return { maxTokens, temperature, topP, topK: Math.max(0, topK), seed, n, stop, logprobs, stream, includeUsage, ignoreEos };
}

/** The extra body field `adapters`: {"disable": [names], "weights": {name: number}} for this request only. */
export function adapterOverrides(b: Body): AdapterOverrides {
  const a = b.adapters;
  if (a === undefined || a === null) return {};
  if (typeof a !== 'object' || Array.isArray(a))
    throw badRequest(`'adapters' must be an object {"disable": [names], "weights": {name: number}}, got ${typeName(a)}`, 'adapters', 'invalid_type');
  const o = a as Body;
  for (const k of Object.keys(o))
    if (k !== 'disable' && k !== 'weights') throw badRequest(`'adapters.${k}' is not a field (use "disable" and "weights")`, `adapters.${k}`);
  const disable = o.disable;
  if (disable !== undefined && !(Array.isArray(disable) && disable.every(isStr)))
    throw badRequest(`'adapters.disable' must be an array of adapter names, got ${typeName(disable)}`, 'adapters.disable', 'invalid_type');
  const weights = o.weights;
  if (weights !== undefined) {
    if (typeof weights !== 'object' || weights === null || Array.isArray(weights))
      throw badRequest(`'adapters.weights' must be an object {name: number}, got ${typeName(weights)}`, 'adapters.weights', 'invalid_type');
    for (const [k, v] of Object.entries(weights))
      if (!isNum(v) || Math.abs(v) > 1e6) throw badRequest(`'adapters.weights.${k}' must be a number in [-1e6, 1e6]`, `adapters.weights.${k}`, 'invalid_type');
  }
  return { disable: disable as string[] | undefined, weights: weights as Record<string, number> | undefined };
}

/** `prompt` of /v1/completions: a string, an array of one string, or an array of token ids. */
export function completionPrompt(b: Body): { text: string } | { ids: number[] } {
  const p = b.prompt;
  if (p === undefined || p === null) throw badRequest("'prompt' is required", 'prompt', 'missing_field');
  if (typeof p === 'string') return { text: p };
  if (Array.isArray(p) && p.length === 1 && typeof p[0] === 'string') return { text: p[0] };
  if (Array.isArray(p) && p.length > 0 && p.every((x) => Number.isInteger(x) && x >= 0)) return { ids: p as number[] };
  if (Array.isArray(p) && p.every(isStr)) throw badRequest(`'prompt' takes one prompt per request here, got ${p.length}`, 'prompt');
  throw badRequest(`'prompt' must be a string or an array of token ids, got ${typeName(p)}`, 'prompt', 'invalid_type');
}

/** `messages` of /v1/chat/completions: [{role, content}] with content a string or text parts. */
export function chatMessages(b: Body): ChatMessage[] {
  const ms = b.messages;
  if (ms === undefined || ms === null) throw badRequest("'messages' is required", 'messages', 'missing_field');
  if (!Array.isArray(ms) || ms.length === 0)
    throw badRequest(`'messages' must be a non-empty array of {role, content}, got ${typeName(ms)}`, 'messages', 'invalid_type');
  return ms.map((m, i) => {
    const at = `messages[${i}]`;
    if (typeof m !== 'object' || m === null || Array.isArray(m)) throw badRequest(`'${at}' must be an object {role, content}`, at, 'invalid_type');
    const { role, content } = m as Body;
    if (typeof role !== 'string' || !['system', 'developer', 'user', 'assistant', 'tool'].includes(role))
      throw badRequest(`'${at}.role' must be one of system, developer, user, assistant, tool; got ${JSON.stringify(role)}`, `${at}.role`);
    if (typeof content === 'string') return { role: role === 'developer' ? 'system' : role, content };
    if (Array.isArray(content) && content.every((c) => typeof c === 'object' && c !== null && (c as Body).type === 'text' && isStr((c as Body).text)))
      return { role: role === 'developer' ? 'system' : role, content: content.map((c) => (c as { text: string }).text).join('') };
    throw badRequest(`'${at}.content' must be a string or an array of {"type": "text", "text": ...} parts`, `${at}.content`, 'invalid_type');
  });
}
