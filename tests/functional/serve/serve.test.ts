// `peftmake serve` against the official openai client on 127.0.0.1: a temp project (stories260K, a domain and a task
// adapter, a stacked composition) built in-process, then models, completions, chat, streaming, logprobs, n > 1, an
// adapter switched off per request, greedy outputs equal to `peftmake generate`'s, a rollback switching the served
// version live, the fine-tuning flow end to end, and every bad input answered with its status while serving goes on.
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGenerate } from '../../../src/cli/commands/generate.ts';
import { runScore } from '../../../src/cli/commands/score.ts';
import { nativeEngine } from '../../../src/engine/native.ts';
import { startServer, type RunningServer } from '../../../src/serve/server.ts';
import { TOOLCHAIN } from '../../../src/cli/toolchain.ts';
import { TempProject } from '../../helpers/project.ts';
import { syntheticQa } from '../../helpers/synthetic-qa.ts';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const skip = existsSync(join(ROOT, 'native', 'build', 'Release', 'peft_engine.node')) ? '' : 'native addon not built (npm run build:native)';

const qaLine = (q: { context: string; question: string; answer: string }) =>
  JSON.stringify({ context: q.context, question: q.question, answers: { text: [q.answer], answer_start: [q.context.indexOf(q.answer)] } });
const train = {
  quant: 'none',
  compute: 'fp32',
  lora: { r: 4, alpha: 8, dropout: 0 },
  lr: 0.01,
  warmup: 1,
  batchSize: 4,
  seqLen: 64,
  checkpointEvery: 0,
  maxSteps: 3,
};
const PROMPT = 'Context: Lily went to the park. Tom went to the zoo.\nQuestion: Where did Tom go?\nAnswer:';

describe.skipIf(skip !== '')(`peftmake serve with the openai client${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let p: TempProject;
  let s: RunningServer;
  let client: OpenAI;
  const logs: string[] = [];
  const gen = (extra: Record<string, unknown>) => runGenerate({ composition: 'assistant', project: p.dir, prompt: PROMPT, maxTokens: 8, raw: true, ...extra });
  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${s.url}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });

  beforeAll(async () => {
    nativeEngine().setThreads(1); // a 260K-parameter model: the pool's wake-ups would cost more than the work
    p = new TempProject('peftmake-serve-');
    mkdirSync(p.path('docs'));
    cpSync(join(ROOT, 'docs'), p.path('docs'), { recursive: true });
    p.write('data/qa.jsonl', syntheticQa(24, 3).map(qaLine).join('\n') + '\n');
    p.pipeline({
      models: { base: { path: join(ROOT, 'models', 'stories260K') } },
      datasets: {
        docs: {
          model: 'base',
          source: { files: ['docs/*.md'], documents: 'paragraph' },
          format: 'text',
          clean: { strip: 'markdown' },
          seqLen: 64,
          split: { valid: 0.2, seed: 1 },
        },
        qa: { model: 'base', source: { files: ['data/qa.jsonl'] }, format: 'qa', split: { valid: 0.2, seed: 1 } },
      },
      adapters: { domain: { base: 'base', data: 'docs', ...train }, task: { base: 'base', data: 'qa', on: ['domain'], ...train } },
      compositions: { assistant: { base: 'base', adapters: [{ name: 'domain' }, { name: 'task', weight: 0.8 }] } },
    });
    expect((await p.build()).ok).toBe(true);
    s = await startServer({ projectDir: p.dir, toolchain: TOOLCHAIN, port: 0, log: (l) => logs.push(l), maxQueue: 64 });
    client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'not-checked', maxRetries: 0 });
  }, 300_000);
  afterAll(async () => {
    await s?.close();
    p?.cleanup();
  });

  it('lists every composition, adapter and base model with its base, stack and version', async () => {
    const models = (await client.models.list()).data as unknown as Record<string, unknown>[];
    expect(models.map((m) => m.id)).toEqual(['assistant', 'domain', 'task', 'base']);
    expect(models[0]).toMatchObject({
      object: 'model',
      kind: 'composition',
      version: 1,
      base: 'base',
      adapters: [
        { name: 'domain', weight: 1 },
        { name: 'task', weight: 0.8 },
      ],
    });
    expect(models[2]).toMatchObject({ kind: 'adapter', adapters: [{ name: 'domain' }, { name: 'task' }] });
    expect(models[3]).toMatchObject({ kind: 'model', adapters: [] });
  });

  it('greedy completion and chat equal `peftmake generate --composition` token for token; usage counts them', async () => {
    const ref = await gen({});
    const r = await client.completions.create({ model: 'assistant', prompt: PROMPT, max_tokens: 8, temperature: 0 });
    expect(r.choices[0].text).toBe(ref.text);
    expect(r.usage).toEqual({
      prompt_tokens: ref.prompt_tokens.length,
      completion_tokens: ref.tokens.length,
      total_tokens: ref.prompt_tokens.length + ref.tokens.length,
    });
    expect(r.choices[0].finish_reason).toBe('length');
    const chatRef = await gen({ raw: false });
    const c = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: PROMPT }], max_tokens: 8, temperature: 0 });
    expect(c.choices[0].message).toMatchObject({ role: 'assistant', content: chatRef.text });
    expect(c.object).toBe('chat.completion');
  });

  it('streams the same text over SSE, with usage at the end when asked', async () => {
    const ref = await gen({ maxTokens: 12 });
    const stream = await client.chat.completions.create({
      model: 'assistant',
      messages: [{ role: 'user', content: PROMPT }],
      max_tokens: 12,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let chunks = 0;
    let finish: string | null = null;
    let usage: unknown;
    for await (const ch of stream) {
      chunks++;
      if (ch.usage) usage = ch.usage;
      for (const c of ch.choices) {
        text += c.delta.content ?? '';
        finish = c.finish_reason ?? finish;
      }
    }
    expect(text).toBe(ref.text);
    expect(chunks).toBeGreaterThan(3);
    expect(finish).toBe('length');
    expect(usage).toMatchObject({ completion_tokens: 12 });
    const cs = await client.completions.create({ model: 'assistant', prompt: PROMPT, max_tokens: 12, temperature: 0, stream: true });
    let t2 = '';
    for await (const ch of cs) t2 += ch.choices[0]?.text ?? '';
    expect(t2).toBe(ref.text);
  });

  it('logprobs equal `peftmake score` of the same tokens; n > 1 gives n seeded samples; stop cuts the text', async () => {
    const r = await client.completions.create({ model: 'assistant', prompt: PROMPT, max_tokens: 6, temperature: 0, logprobs: 3 });
    const lp = r.choices[0].logprobs!;
    expect(lp.token_logprobs).toHaveLength(6);
    expect(Object.keys(lp.top_logprobs![0])).toHaveLength(3);
    const ref = await gen({ maxTokens: 6 });
    const sc = await runScore({ composition: 'assistant', project: p.dir, ids: [...ref.prompt_tokens, ...ref.tokens].join(',') });
    const P = ref.prompt_tokens.length;
    lp.token_logprobs!.forEach((x, i) => expect(x).toBeCloseTo(sc.logprobs[P - 1 + i], 4));
    const best = Math.max(...Object.values(lp.top_logprobs![0]));
    expect(lp.token_logprobs![0]).toBeCloseTo(best, 6);
    const chat = await client.chat.completions.create({
      model: 'assistant',
      messages: [{ role: 'user', content: PROMPT }],
      max_tokens: 4,
      temperature: 0,
      logprobs: true,
      top_logprobs: 2,
    });
    expect(chat.choices[0].logprobs!.content).toHaveLength(4);
    expect(chat.choices[0].logprobs!.content![0].top_logprobs).toHaveLength(2);

    const n = await client.completions.create({ model: 'assistant', prompt: PROMPT, max_tokens: 8, temperature: 1, n: 3, seed: 5 });
    expect(n.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    for (const c of n.choices) expect(c.text).toBe((await gen({ temperature: 1, seed: 5 + c.index })).text);
    expect(n.usage!.completion_tokens).toBe(24);

    const full = (await gen({ maxTokens: 12 })).text;
    const stopAt = full.trim().split(/\s+/)[1];
    const cut = await client.completions.create({ model: 'assistant', prompt: PROMPT, max_tokens: 12, temperature: 0, stop: [stopAt] });
    expect(cut.choices[0]).toMatchObject({ text: full.slice(0, full.indexOf(stopAt)), finish_reason: 'stop' });
  });

  it('the extra body field `adapters` switches an adapter off or reweights it for one request, as generate --disable does', async () => {
    const off = await gen({ disable: ['task'], maxTokens: 10 });
    const body = { model: 'assistant', prompt: PROMPT, max_tokens: 10, temperature: 0, adapters: { disable: ['task'] } };
    const r = await client.completions.create(body as never);
    expect((r as OpenAI.Completion).choices[0].text).toBe(off.text);
    const same = await client.completions.create({
      model: 'assistant',
      prompt: PROMPT,
      max_tokens: 10,
      temperature: 0,
      adapters: { weights: { task: 0 } },
    } as never);
    expect((same as OpenAI.Completion).choices[0].text).toBe(off.text); // weight 0 = off
    const bad = await post('/v1/completions', JSON.stringify({ ...body, adapters: { disable: ['nope'] } }));
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toMatchObject({ param: 'adapters', message: expect.stringMatching(/no adapter "nope".*domain, task/) });
  });

  it('a rebuild and a rollback switch the served version without a restart; name@v1 pins a version', async () => {
    const v1 = (await client.completions.create({ model: 'assistant', prompt: PROMPT, max_tokens: 8, temperature: 0 })).choices[0].text;
    p.write('data/qa.jsonl', syntheticQa(24, 9).map(qaLine).join('\n') + '\n');
    expect((await p.build()).ok).toBe(true);
    const models = (await client.models.list()).data as unknown as { id: string; version: number }[];
    expect(models.find((m) => m.id === 'assistant')!.version).toBe(2);
    const v2 = await client.completions.create({ model: 'assistant', prompt: PROMPT, max_tokens: 8, temperature: 0 });
    expect(v2.choices[0].text).toBe((await gen({})).text);
    const pinned = await client.completions.create({ model: 'assistant@v1', prompt: PROMPT, max_tokens: 8, temperature: 0 });
    expect(pinned.choices[0].text).toBe(v1);
    const rb = await p.cli(['rollback', 'adapters.task', 'v1']); // re-points the ref and rebuilds what depends on it
    expect(rb.code, rb.stderr).toBe(0);
    expect(((await client.models.list()).data as unknown as { id: string; version: number }[]).find((m) => m.id === 'assistant')!.version).toBe(1);
    expect((await client.completions.create({ model: 'assistant', prompt: PROMPT, max_tokens: 8, temperature: 0 })).choices[0].text).toBe(v1);
    await expect(client.completions.create({ model: 'assistant@v9', prompt: PROMPT })).rejects.toMatchObject({ status: 404 });
    expect(logs.some((l) => /store: compositions\.assistant v1 -> v2/.test(l))).toBe(true);
  });
  it('answers every bad input with an OpenAI error object and its status, and keeps serving', async () => {
    const err = async (r: Response, status: number) => {
      expect(r.status).toBe(status);
      const b = (await r.json()) as { error: { message: string; type: string; param: string | null; code: string | null } };
      expect(Object.keys(b.error)).toEqual(expect.arrayContaining(['message', 'type', 'param', 'code']));
      return b.error;
    };
    await expect(client.completions.create({ model: 'nope', prompt: 'x' })).rejects.toMatchObject({ status: 404, code: 'model_not_found' });
    expect(await err(await post('/v1/completions', '{"model": "assistant", "prompt": '), 400)).toMatchObject({ code: 'invalid_json' });
    expect(await err(await post('/v1/completions', JSON.stringify({ model: 'assistant', prompt: 'x', temperature: 'hot' })), 400)).toMatchObject({
      param: 'temperature',
      message: '\'temperature\' must be a number, got a string ("hot")',
    });
    expect(await err(await post('/v1/chat/completions', JSON.stringify({ model: 'assistant', messages: [{ role: 'user', content: 7 }] })), 400)).toMatchObject({
      param: 'messages[0].content',
    });
    expect(await err(await post('/v1/completions', JSON.stringify({ model: 'assistant', prompt: Array(600).fill(400) })), 400)).toMatchObject({
      code: 'context_length_exceeded',
      message: expect.stringMatching(/600 tokens.*context is 512/),
    });
    expect(await err(await post('/v1/completions', JSON.stringify({ model: 'assistant', prompt: 'x', max_tokens: 600 })), 400)).toMatchObject({
      param: 'max_tokens',
      message: expect.stringMatching(/max_tokens \(600\).*512/),
    });
    expect(await err(await post('/v1/completions', JSON.stringify({ model: 'assistant', prompt: 'x'.repeat(5 << 20) })), 413)).toMatchObject({
      code: 'body_too_large',
    });
    expect(await err(await fetch(`${s.url}/v1/completions`), 405)).toMatchObject({ code: 'method_not_allowed' });
    expect(await err(await post('/fine-tuning/setup', JSON.stringify({ dataset: 'qa', documents: ['a'] })), 400)).toMatchObject({
      param: 'dataset',
      message: expect.stringMatching(/does not read a directory by glob/),
    });
    // a store object that went bad fails its own requests (503 from the verification before serving), nothing else
    const comp = JSON.parse(p.read('artifacts/refs/compositions.assistant.json')) as { versions: { key: string }[] };
    writeFileSync(p.path(`artifacts/objects/${comp.versions[1].key}/composition.json`), '{"truncated": ');
    const broken = await err(await post('/v1/completions', JSON.stringify({ model: 'assistant@v2', prompt: 'x' })), 503);
    expect(broken).toMatchObject({
      code: 'corrupt_object',
      message: expect.stringMatching(/compositions\.assistant v2 .*composition\.json: \d+ bytes, the manifest records/),
    });
    // a client that goes away cancels its generation and frees its row
    const ac = new AbortController();
    const res = await fetch(`${s.url}/v1/completions`, {
      method: 'POST',
      signal: ac.signal,
      body: JSON.stringify({ model: 'assistant', prompt: PROMPT, max_tokens: 400, temperature: 0, stream: true }),
    });
    const reader = res.body!.getReader();
    await reader.read();
    ac.abort();
    for (let i = 0; i < 100 && !logs.some((l) => l.includes('client went away')); i++) await new Promise((r) => setTimeout(r, 20));
    expect(logs.find((l) => l.includes('client went away'))).toMatch(/POST \/v1\/completions 499 .*model=assistant/);
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    expect(metrics).toMatch(/^peftmake_running_sequences 0$/m);
    expect(metrics).toMatch(/^peftmake_requests_total\{route="POST \/v1\/completions",status="400"\} [1-9]/m);
    expect(metrics).toMatch(/^peftmake_time_to_first_token_seconds_count\{model="assistant"\} [1-9]/m);
    // still serving
    expect((await client.completions.create({ model: 'assistant', prompt: PROMPT, max_tokens: 8, temperature: 0 })).choices[0].text).toBe((await gen({})).text);
    expect((await (await fetch(`${s.url}/health`)).json()).status).toBe('ok');
  });

  it('checks the API key (401) and refuses requests past a full queue (429 with Retry-After)', async () => {
    const keyed = await startServer({ projectDir: p.dir, toolchain: TOOLCHAIN, port: 0, apiKey: 'sekret', log: () => {}, maxBatch: 1, maxQueue: 1 });
    try {
      const noKey = await fetch(`${keyed.url}/v1/models`);
      expect(noKey.status).toBe(401);
      expect((await noKey.json()).error.code).toBe('invalid_api_key');
      await expect(new OpenAI({ baseURL: `${keyed.url}/v1`, apiKey: 'wrong', maxRetries: 0 }).models.list()).rejects.toMatchObject({ status: 401 });
      const ok = new OpenAI({ baseURL: `${keyed.url}/v1`, apiKey: 'sekret', maxRetries: 0 });
      expect((await ok.models.list()).data.length).toBe(4);
      await ok.completions.create({ model: 'assistant', prompt: 'x', max_tokens: 1 }); // loads the model
      const body = JSON.stringify({ model: 'assistant', prompt: PROMPT, max_tokens: 400, temperature: 0 });
      const rs = await Promise.all(
        [0, 1, 2].map(() => fetch(`${keyed.url}/v1/completions`, { method: 'POST', body, headers: { authorization: 'Bearer sekret' } })),
      );
      const busy = rs.filter((r) => r.status === 429);
      expect(busy).toHaveLength(1);
      expect(busy[0].headers.get('retry-after')).toBe('1');
      expect((await busy[0].json()).error).toMatchObject({ type: 'rate_limit_error', code: 'queue_full' });
      expect(rs.filter((r) => r.status === 200)).toHaveLength(2);
    } finally {
      await keyed.close();
    }
  });

  it('fine-tuning: setup with documents builds through the executor, status follows it, query answers from the new version', async () => {
    const form = new FormData();
    form.append('dataset', 'docs');
    form.append('files', new Blob(['# Boats\n\nThe red boat sails on the lake every morning. Lily rows it home.\n']), '../../../../escape.md');
    form.append('files', new Blob(['Tom keeps his kite in the shed by the river.\n']), 'kites.md');
    const setup = await fetch(`${s.url}/fine-tuning/setup`, { method: 'POST', body: form });
    expect(setup.status).toBe(202);
    expect((await setup.json()).build).toMatchObject({ state: 'running', dataset: 'docs', files: ['docs/escape.md', 'docs/kites.md'] });
    expect(existsSync(resolve(p.dir, '..', 'escape.md'))).toBe(false);
    expect(readFileSync(p.path('docs/escape.md'), 'utf8')).toContain('red boat');
    const again = await post('/fine-tuning/setup', JSON.stringify({ dataset: 'docs', documents: ['more'] }));
    expect(again.status).toBe(409);
    expect((await again.json()).error).toMatchObject({ code: 'build_running', build: { state: 'running' } });
    let st: {
      build: { state: string; stages: { name: string; action: string; version: number }[]; error: string | null };
      compositions: { name: string; trained: boolean; served: boolean; version: number }[];
    };
    const seen = new Set<string>();
    for (let i = 0; ; i++) {
      st = await (await fetch(`${s.url}/fine-tuning/status`)).json();
      if ((st.build as unknown as { stage: string | null }).stage) seen.add((st.build as unknown as { stage: string }).stage);
      if (st.build.state !== 'running' || i > 1200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(st.build.error).toBeNull();
    expect(st.build.state).toBe('succeeded');
    expect(seen.size).toBeGreaterThan(0);
    expect(st.build.stages.filter((x) => x.action === 'built').map((x) => x.name)).toEqual(
      expect.arrayContaining(['datasets.docs', 'adapters.domain', 'compositions.assistant']),
    ); // task stays pinned by the rollback
    const version = st.build.stages.find((x) => x.name === 'compositions.assistant')!.version;
    expect(version).toBe(3);
    expect(st.compositions).toEqual([expect.objectContaining({ name: 'assistant', trained: true, served: true, version: 3 })]);
    const q = await post('/fine-tuning/query', JSON.stringify({ query: 'Where does Tom keep his kite?', max_tokens: 8 }));
    expect(q.status).toBe(200);
    const answer = await q.json();
    const ref = await runGenerate({ composition: 'assistant', project: p.dir, prompt: 'Where does Tom keep his kite?', maxTokens: 8 });
    expect(answer).toMatchObject({ model: 'assistant', version: 3, answer: ref.text.trim() });
  });
});
