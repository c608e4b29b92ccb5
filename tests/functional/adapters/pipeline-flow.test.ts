// End to end through the real CLI on a temp project (stories260K from models/, tiny step counts): a first build trains
// everything; a second is a no-op; a QA data change rebuilds only the dataset, the task adapter, the composition and
// the eval; rolling the task adapter back restores the old composition without training; generate --composition
// with --disable answers as base + domain.
import { execFileSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticQa } from '../../helpers/synthetic-qa.ts';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const BIN = join(ROOT, 'bin', 'peftmake.js');
const skip = existsSync(join(ROOT, 'native', 'build', 'Release', 'peft_engine.node')) ? '' : 'native addon not built (npm run build:native)';

interface Outcome {
  name: string;
  action: string;
  version: number | null;
  key: string;
}

function qaLine(q: { context: string; question: string; answer: string }): string {
  return JSON.stringify({ context: q.context, question: q.question, answers: { text: [q.answer], answer_start: [q.context.indexOf(q.answer)] } });
}

const train = { quant: 'none', compute: 'fp32', lora: { r: 4, alpha: 8, dropout: 0 }, lr: 0.003, warmup: 1, batchSize: 4, seqLen: 64, checkpointEvery: 0 };
const pipeline = {
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
  adapters: {
    domain: { base: 'base', data: 'docs', maxSteps: 6, ...train },
    task: { base: 'base', data: 'qa', on: ['domain'], maxSteps: 6, ...train },
  },
  compositions: { assistant: { base: 'base', adapters: [{ name: 'domain' }, { name: 'task' }] } },
  evals: { report: { compositions: ['assistant'], datasets: ['docs', 'qa'], maxExamples: 4, maxNewTokens: 4 } },
};

describe.skipIf(skip !== '')(`adapters pipeline through the CLI${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let dir: string;
  const cli = (...args: string[]) => execFileSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const build = (...args: string[]): Record<string, Outcome> => {
    const out = JSON.parse(cli('build', '--json', ...args)) as { ok: boolean; stages: Outcome[] };
    expect(out.ok).toBe(true);
    return Object.fromEntries(out.stages.map((s) => [s.name, s]));
  };
  const actions = (r: Record<string, Outcome>) => Object.fromEntries(Object.values(r).map((s) => [s.name, s.action]));
  let first: Record<string, Outcome>;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'peftmake-adapters-'));
    mkdirSync(join(dir, 'data'));
    cpSync(join(ROOT, 'docs'), join(dir, 'docs'), { recursive: true });
    writeFileSync(join(dir, 'data', 'qa.jsonl'), syntheticQa(40, 3).map(qaLine).join('\n') + '\n');
    writeFileSync(join(dir, 'pipeline.json'), JSON.stringify(pipeline, null, 2));
    first = build();
  }, 300_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('first build trains both adapters; the second build is a no-op', () => {
    expect(Object.values(first).every((s) => s.action === 'built')).toBe(true);
    const again = build();
    expect(Object.values(again).every((s) => s.action === 'fresh')).toBe(true);
  });

  it('a QA data change rebuilds only the dataset, the task adapter, the composition and the eval', () => {
    appendFileSync(join(dir, 'data', 'qa.jsonl'), syntheticQa(8, 11).map(qaLine).join('\n') + '\n');
    const r = build();
    expect(actions(r)).toEqual({
      'models.base': 'fresh',
      'datasets.docs': 'fresh',
      'datasets.qa': 'built',
      'adapters.domain': 'fresh',
      'adapters.task': 'built',
      'compositions.assistant': 'built',
      'evals.report': 'built',
    });
    expect(r['adapters.task'].version).toBe(2);
    const diff = cli('diff', 'adapters.task', 'v1', 'v2');
    expect(diff).toMatch(/layers\.0\.self_attn\.q_proj: \|s·BA\| v1 [0-9.e-]+ {2}v2 [0-9.e-]+ {2}\|v2−v1\| [0-9.e-]+ {2}cos -?[01]\.\d{4}/);
    expect(diff).toMatch(/all 35 modules: \|s·BA\| v1/);
  });

  it('rolling the task adapter back restores the previous composition without training', () => {
    cli('rollback', 'adapters.task', 'v1');
    const r = build();
    expect(r['adapters.task'].version).toBe(1);
    expect(r['adapters.task'].key).toBe(first['adapters.task'].key);
    expect(r['compositions.assistant'].key).toBe(first['compositions.assistant'].key);
    for (const s of Object.values(r)) expect(s.action).not.toBe('built');
  });

  it('generate --composition uses the stack; --disable task answers as base + domain', () => {
    const prompt = 'Context: Lily went to the park. Tom went to the zoo.\nQuestion: Where did Tom go?\nAnswer:';
    const composed = JSON.parse(cli('generate', '--composition', 'assistant', '--prompt', prompt, '--max-tokens', '6', '--json'));
    const disabled = JSON.parse(cli('generate', '--composition', 'assistant', '--disable', 'task', '--prompt', prompt, '--max-tokens', '6', '--json'));
    const objects = join(dir, 'artifacts', 'objects');
    const domainKey = JSON.parse(readFileSync(join(dir, 'artifacts', 'refs', 'adapters.domain.json'), 'utf8')).versions[0].key;
    const direct = JSON.parse(
      cli('generate', '--model', join(ROOT, 'models', 'stories260K'), '--adapter', join(objects, domainKey), '--prompt', prompt, '--max-tokens', '6', '--json'),
    );
    expect(disabled.tokens).toEqual(direct.tokens);
    expect(composed.tokens).toHaveLength(6);
    const s1 = JSON.parse(cli('score', '--composition', 'assistant', '--disable', 'task', '--text', prompt, '--json'));
    const s2 = JSON.parse(cli('score', '--model', join(ROOT, 'models', 'stories260K'), '--adapter', join(objects, domainKey), '--text', prompt, '--json'));
    expect(s1.logprobs).toEqual(s2.logprobs);
    expect(() => cli('generate', '--composition', 'assistant', '--disable', 'nope', '--prompt', 'x')).toThrow(/has no adapter "nope"/);
  });

  it('an eval gate keeps the previous composition when the new one regresses, and says so', () => {
    expect(cli('unpin', 'adapters.task')).toBeDefined(); // pinned by the rollback above
    const before = build(); // the baseline eval the gate compares with
    const goodComposition = before['compositions.assistant'];
    // add a gate, and a learning rate that wrecks the task adapter: the composition's held-out perplexity rises
    const gated = JSON.parse(readFileSync(join(dir, 'pipeline.json'), 'utf8'));
    gated.evals.report.gate = { maxPerplexityIncrease: 0.02 };
    gated.adapters.task.lr = 2;
    writeFileSync(join(dir, 'pipeline.json'), JSON.stringify(gated, null, 2));
    const out = JSON.parse(cli('build', '--json')) as { ok: boolean; stages: (Outcome & { summary?: string })[] };
    const r = Object.fromEntries(out.stages.map((s) => [s.name, s]));
    expect(r['adapters.task'].action, JSON.stringify(out.stages.map((s) => [s.name, s.action, (s as { reasons?: unknown }).reasons, s.version]))).toBe('built');
    expect(r['compositions.assistant'].action).toBe('built');
    const ref = JSON.parse(readFileSync(join(dir, 'artifacts', 'refs', 'compositions.assistant.json'), 'utf8'));
    expect(ref.pinned).toBe(true);
    expect(ref.versions.find((v: { version: number }) => v.version === ref.current).key).toBe(goodComposition.key);
    const evalKey = r['evals.report'].key;
    const metrics = JSON.parse(readFileSync(join(dir, 'artifacts', 'objects', evalKey, 'metrics.json'), 'utf8'));
    expect(metrics.gate.passed).toBe(false);
    expect(metrics.gate.messages.join('\n')).toMatch(
      /gate: compositions\.assistant v\d+: \w+ perplexity [\d.]+ is [\d.]+% above the previous [\d.]+ \(allowed \+2\.0%\); keeping the previous version \([0-9a-f]{12}\) current/,
    );
    expect(metrics.gate.keep).toEqual({ 'compositions.assistant': goodComposition.key });
  });
});
