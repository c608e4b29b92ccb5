// `peftmake serve` for the non-Llama families with the official openai client: one temp project with a random-init
// GPT-2, Mixtral and T5 (`init` with modelType), two adapters and a composition each, built in-process and served;
// models listed, greedy completion / chat / streaming equal to `peftmake generate --composition` (an adapter switched
// off per request included), T5 answered through its encoder-decoder path under the same errors and metrics.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGenerate } from '../../../src/cli/commands/generate.ts';
import { nativeEngine } from '../../../src/engine/native.ts';
import { startServer, type RunningServer } from '../../../src/serve/server.ts';
import { TOOLCHAIN } from '../../../src/cli/toolchain.ts';
import { FAMILIES, FAMILY_MODELS, familyTraining } from '../../helpers/family-models.ts';
import { TempProject } from '../../helpers/project.ts';
import { syntheticQa } from '../../helpers/synthetic-qa.ts';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const skip = existsSync(join(ROOT, 'native', 'build', 'Release', 'peft_engine.node')) ? '' : 'native addon not built (npm run build:native)';

const train = familyTraining(0.02);
const PROMPT = 'Context: Lily went to the park. Tom went to the zoo.\nQuestion: Where did Tom go?\nAnswer:';

describe.skipIf(skip !== '')(`peftmake serve: GPT-2, Mixtral and T5 compositions with the openai client${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let p: TempProject;
  let s: RunningServer;
  let client: OpenAI;
  const gen = (family: string, extra: Record<string, unknown> = {}) =>
    runGenerate({ composition: `${family}-chat`, project: p.dir, prompt: PROMPT, maxTokens: 8, raw: true, ...extra });

  beforeAll(async () => {
    nativeEngine().setThreads(1);
    p = new TempProject('peftmake-serve-families-');
    const qa = syntheticQa(16, 7).map((q) => JSON.stringify({ context: q.context, question: q.question, answers: { text: [q.answer] } }));
    p.write('data/qa.jsonl', `${qa.join('\n')}\n`);
    // GPT-2 trains on turns in DialoGPT's way: a completion dataset whose prompt template ends the turn with eos
    const turns = syntheticQa(16, 7).map((q) => JSON.stringify({ prompt: `${q.context} ${q.question}`, completion: ` ${q.answer}</s>` }));
    p.write('data/turns.jsonl', `${turns.join('\n')}\n`);
    const datasets: Record<string, unknown> = {};
    const adapters: Record<string, unknown> = {};
    const compositions: Record<string, unknown> = {};
    for (const f of FAMILIES) {
      datasets[`${f}-qa`] =
        f === 'gpt2'
          ? { model: f, source: { files: ['data/turns.jsonl'] }, format: 'completion', template: { prompt: '{prompt}</s>' }, split: { valid: 0.25, seed: 1 } }
          : { model: f, source: { files: ['data/qa.jsonl'] }, format: 'qa', split: { valid: 0.25, seed: 1 } };
      adapters[`${f}-domain`] = { base: f, data: `${f}-qa`, ...train };
      adapters[`${f}-task`] = { base: f, data: `${f}-qa`, on: [`${f}-domain`], ...train };
      compositions[`${f}-chat`] = { base: f, adapters: [{ name: `${f}-domain` }, { name: `${f}-task`, weight: 0.8 }] };
    }
    p.pipeline({ models: FAMILY_MODELS, datasets, adapters, compositions });
    const report = await p.build();
    if (!report.ok) console.log(JSON.stringify(report.stages.filter((x) => x.error)));
    expect(report.ok).toBe(true);
    s = await startServer({ projectDir: p.dir, toolchain: TOOLCHAIN, port: 0, log: () => {}, maxQueue: 2 });
    client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'not-checked', maxRetries: 0 });
  }, 240_000);
  afterAll(async () => {
    await s?.close();
    p?.cleanup();
  });

  it('lists every family: compositions with their stacks, adapters and the base models', async () => {
    const models = (await client.models.list()).data as unknown as Record<string, unknown>[];
    const ids = models.map((m) => m.id);
    for (const f of FAMILIES) {
      expect(ids).toEqual(expect.arrayContaining([`${f}-chat`, `${f}-domain`, `${f}-task`, f]));
      expect(models.find((m) => m.id === `${f}-chat`)).toMatchObject({
        kind: 'composition',
        base: f,
        adapters: [
          { name: `${f}-domain`, weight: 1 },
          { name: `${f}-task`, weight: 0.8 },
        ],
      });
    }
  });

  for (const f of FAMILIES)
    it(`${f}: greedy completion, chat and both streams equal \`peftmake generate\`; an adapter switched off equals --disable`, async () => {
      const ref = await gen(f);
      expect(ref.tokens.length).toBeGreaterThan(0);
      const r = await client.completions.create({ model: `${f}-chat`, prompt: PROMPT, max_tokens: 8, temperature: 0 });
      expect(r.choices[0].text).toBe(ref.text);
      expect(r.usage).toEqual({
        prompt_tokens: ref.prompt_tokens.length,
        completion_tokens: ref.tokens.length,
        total_tokens: ref.prompt_tokens.length + ref.tokens.length,
      });
      // the model's chat format: none of these bases has a chat template and no dataset sets one, so the message is the
      // prompt as training put it (GPT-2: in its completion template, ending the turn with eos; the qa datasets: as is)
      // and as `generate --composition` renders it (for t5: the encoder's input)
      const chatRef = await gen(f, { raw: false });
      const c = await client.chat.completions.create({ model: `${f}-chat`, messages: [{ role: 'user', content: PROMPT }], max_tokens: 8, temperature: 0 });
      expect(c.choices[0].message.content).toBe(chatRef.text);
      expect(c.usage?.completion_tokens).toBe(chatRef.tokens.length);
      const asTrained = await client.completions.create({ model: `${f}-chat`, prompt: f === 'gpt2' ? `${PROMPT}</s>` : PROMPT, max_tokens: 8, temperature: 0 });
      expect(c.usage?.prompt_tokens).toBe(asTrained.usage?.prompt_tokens);
      expect(c.choices[0].message.content).toBe(asTrained.choices[0].text);
      const stream = await client.chat.completions.create({
        model: `${f}-chat`,
        messages: [{ role: 'user', content: PROMPT }],
        max_tokens: 8,
        temperature: 0,
        stream: true,
        stream_options: { include_usage: true },
      });
      let text = '';
      let usage: { completion_tokens: number } | undefined;
      for await (const ch of stream) {
        if (ch.usage) usage = ch.usage;
        for (const x of ch.choices) text += x.delta.content ?? '';
      }
      expect(text).toBe(chatRef.text);
      expect(usage?.completion_tokens).toBe(chatRef.tokens.length);
      const cs = await client.completions.create({ model: `${f}-chat`, prompt: PROMPT, max_tokens: 8, temperature: 0, stream: true });
      let t2 = '';
      for await (const ch of cs) t2 += ch.choices[0]?.text ?? '';
      expect(t2).toBe(ref.text);

      const off = await gen(f, { disable: [`${f}-task`] });
      const body = { model: `${f}-chat`, prompt: PROMPT, max_tokens: 8, temperature: 0, adapters: { disable: [`${f}-task`] } };
      const o = await client.completions.create(body as never);
      expect((o as unknown as OpenAI.Completion).choices[0].text).toBe(off.text);
      // the switch is real: the first token's log-probability moves with the task adapter off
      const lp = async (extra: Record<string, unknown>) =>
        ((await client.completions.create({ ...body, max_tokens: 1, logprobs: 0, ...extra } as never)) as unknown as OpenAI.Completion).choices[0].logprobs!
          .token_logprobs![0];
      expect(await lp({})).not.toBeCloseTo(await lp({ adapters: {} }), 6);
    });

  it('t5: sampled completions with a seed repeat; n > 1 and logprobs come back; errors and metrics as for the other families', async () => {
    const ask = (extra: Record<string, unknown>) =>
      client.completions.create({
        model: 't5-chat',
        prompt: PROMPT,
        max_tokens: 6,
        temperature: 0.9,
        seed: 5,
        ...extra,
      } as never) as unknown as Promise<OpenAI.Completion>;
    const a = await ask({ n: 2, logprobs: 2 });
    const b = await ask({});
    expect(a.choices).toHaveLength(2);
    expect(b.choices[0].text).toBe(a.choices[0].text); // choice i samples with seed + i
    const ref = await gen('t5', { temperature: 0.9, seed: 5, maxTokens: 6 });
    expect(b.choices[0].text).toBe(ref.text);
    expect(a.choices[0].logprobs?.token_logprobs).toHaveLength(a.usage!.completion_tokens - a.choices[1].logprobs!.token_logprobs!.length);
    for (const lp of a.choices[0].logprobs!.token_logprobs!) expect(lp).toBeLessThanOrEqual(0);
    expect(Object.keys(a.choices[0].logprobs!.top_logprobs![0]).length).toBeGreaterThan(0);
    // too long an answer: 400 naming max_tokens, and the server keeps serving
    const long = await fetch(`${s.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 't5-chat', prompt: 'hi', max_tokens: 100_000 }),
    });
    expect(long.status).toBe(400);
    expect((await long.json()).error).toMatchObject({ param: 'max_tokens', code: 'context_length_exceeded' });
    // queue full: 429 with Retry-After (maxQueue 2: one running, two waiting, the next refused)
    const many = await Promise.all(
      Array.from({ length: 6 }, () =>
        fetch(`${s.url}/v1/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: 't5-chat', prompt: PROMPT, max_tokens: 400, temperature: 0, ignore_eos: true }),
        }),
      ),
    );
    const statuses = many.map((r) => r.status);
    expect(statuses).toContain(200);
    expect(statuses).toContain(429);
    expect(many.find((r) => r.status === 429)!.headers.get('retry-after')).toBeTruthy();
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    expect(metrics).toMatch(/model="t5"|model="t5-chat"/);
    expect((await client.completions.create({ model: 't5-chat', prompt: PROMPT, max_tokens: 2, temperature: 0 })).choices).toHaveLength(1);
  });
});
