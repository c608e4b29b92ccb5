// A T5 (encoder-decoder) pipeline end to end through the real CLI on a temp project: a random-init t5 model (`init`
// with modelType t5), a domain adapter trained seq2seq on prompt -> completion notes, a task adapter on QA trained on
// top of it, their composition, and the eval of base / each adapter / composition; then generate and score on it.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticQa } from '../../helpers/synthetic-qa.ts';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const BIN = join(ROOT, 'bin', 'peftmake.js');
const skip = existsSync(join(ROOT, 'native', 'build', 'Release', 'peft_engine.node')) ? '' : 'native addon not built (npm run build:native)';

const NOTES = [
  ['The build tool peftmake', ' trains adapters and keeps every version.'],
  ['A stage key is', ' the hash of its config and inputs.'],
  ['A composition stacks', ' the base and its adapters at run time.'],
  ['The store keeps', ' each artifact under its key.'],
  ['A dataset stage', ' tokenises records for the model.'],
  ['An eval stage', ' scores held-out records.'],
  ['Rollback moves', ' a ref to an older key.'],
  ['The engine trains', ' LoRA adapters on the CPU.'],
];
const train = { quant: 'none', compute: 'fp32', lora: { r: 4, alpha: 8, dropout: 0, targets: 'all-linear' }, lr: 0.01, warmup: 1, batchSize: 4, seqLen: 96 };
const pipeline = {
  models: {
    t5: { init: { modelType: 't5', vocabSize: 512, hiddenSize: 32, intermediateSize: 64, numLayers: 2, numHeads: 4, tieWordEmbeddings: false, seed: 0 } },
  },
  datasets: {
    notes: { model: 't5', source: { files: ['data/notes.jsonl'] }, format: 'completion', split: { valid: 0.25, seed: 1 } },
    qa: { model: 't5', source: { files: ['data/qa.jsonl'] }, format: 'qa', split: { valid: 0.2, seed: 1 } },
  },
  adapters: {
    domain: { base: 't5', data: 'notes', maxSteps: 12, ...train },
    task: { base: 't5', data: 'qa', on: ['domain'], maxSteps: 12, ...train },
  },
  compositions: { assistant: { base: 't5', adapters: [{ name: 'domain' }, { name: 'task' }] } },
  evals: { report: { compositions: ['assistant'], datasets: ['notes', 'qa'], maxExamples: 4, maxNewTokens: 6 } },
};

describe.skipIf(skip !== '')(`t5 pipeline through the CLI${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let dir: string;
  const cli = (...args: string[]) => execFileSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const object = (stage: string) => {
    const ref = JSON.parse(readFileSync(join(dir, 'artifacts', 'refs', `${stage}.json`), 'utf8')) as {
      current: number;
      versions: { version: number; key: string }[];
    };
    return join(dir, 'artifacts', 'objects', ref.versions.find((v) => v.version === ref.current)!.key);
  };
  let out: { ok: boolean; stages: { name: string; action: string }[] };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'peftmake-t5-'));
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', 'notes.jsonl'), `${NOTES.map(([prompt, completion]) => JSON.stringify({ prompt, completion })).join('\n')}\n`);
    const qa = syntheticQa(24, 5).map((q) =>
      JSON.stringify({ context: q.context, question: q.question, answers: { text: [q.answer], answer_start: [q.context.indexOf(q.answer)] } }),
    );
    writeFileSync(join(dir, 'data', 'qa.jsonl'), `${qa.join('\n')}\n`);
    writeFileSync(join(dir, 'pipeline.json'), JSON.stringify(pipeline, null, 2));
    out = JSON.parse(cli('build', '--json')) as typeof out;
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('builds every stage: seq2seq records, two trained SEQ_2_SEQ_LM adapters, the composition and the eval table', () => {
    expect(out.ok).toBe(true);
    expect(out.stages.every((s) => s.action === 'built')).toBe(true);
    const rec = JSON.parse(readFileSync(join(object('datasets.qa'), 'train.jsonl'), 'utf8').split('\n')[0]) as {
      ids: number[];
      labels: number[];
      enc: number[];
    };
    expect(rec.enc.at(-1)).toBe(2); // </s> ends the encoder input, no BOS (1) before it
    expect(rec.enc[0]).not.toBe(1);
    expect(rec.ids[0]).toBe(0); // decoder_start
    expect(rec.labels[0]).toBe(-100);
    expect(rec.ids.at(-1)).toBe(2);
    for (const a of ['adapters.domain', 'adapters.task']) {
      const d = object(a);
      const cfg = JSON.parse(readFileSync(join(d, 'adapter_config.json'), 'utf8'));
      expect(cfg.task_type).toBe('SEQ_2_SEQ_LM');
      expect(cfg.target_modules).toEqual(['k', 'o', 'q', 'v', 'wi_0', 'wi_1', 'wo']);
      const m = JSON.parse(readFileSync(join(d, 'metrics.json'), 'utf8')) as { first_loss: number; train_loss: number };
      expect(m.train_loss).toBeLessThan(m.first_loss);
      expect(JSON.parse(readFileSync(join(d, 'adapter.json'), 'utf8')).objective).toBe('seq2seq');
    }
    const ev = JSON.parse(readFileSync(join(object('evals.report'), 'metrics.json'), 'utf8')) as {
      rows: { subject: string; dataset: string; perplexity: number; f1?: number }[];
    };
    const ppl = (s: string, d: string) => ev.rows.find((r) => r.subject === s && r.dataset === d)!.perplexity;
    expect(ev.rows.map((r) => r.subject)).toEqual(['base', 'base', 'domain', 'domain', 'task', 'task', 'assistant', 'assistant']);
    expect(ppl('domain', 'notes')).toBeLessThan(ppl('base', 'notes'));
    expect(ppl('assistant', 'qa')).toBeLessThan(ppl('base', 'qa'));
    expect(ev.rows.find((r) => r.subject === 'assistant' && r.dataset === 'qa')!.f1).toBeTypeOf('number');
    expect(readdirSync(object('evals.report'))).toContain('table.md');
    console.log(`[t5 pipeline] eval table:\n${readFileSync(join(object('evals.report'), 'table.md'), 'utf8')}`);
  });

  it('generate and score run on the composition', () => {
    const g = cli('generate', '--composition', 'assistant', '--max-tokens', '5', '--json', '--prompt', 'Where did Tom go?');
    const gj = JSON.parse(g) as { tokens: number[]; prompt_tokens: number[] };
    expect(gj.tokens.length).toBeGreaterThan(0);
    expect(gj.prompt_tokens.at(-1)).toBe(2);
    const s = cli('score', '--composition', 'assistant', '--json', '--source', 'Where did Lily go?', '--text', 'the park');
    expect(JSON.parse(s).perplexity).toBeGreaterThan(1);
  });
});

it('the FLAN-T5 recipe (examples/flan-t5) validates and plans: instruction + QA adapters on google/flan-t5-base', () => {
  const out = execFileSync(process.execPath, [BIN, 'validate', '-f', join(ROOT, 'examples', 'flan-t5', 'pipeline.json')], { encoding: 'utf8' });
  expect(out).toMatch(/adapters\.qa \(adapter\) <- adapters\.instruct, datasets\.squad, models\.base/);
  const recipe = JSON.parse(readFileSync(join(ROOT, 'examples', 'flan-t5', 'pipeline.json'), 'utf8'));
  expect(recipe.models.base).toEqual({ hub: 'google/flan-t5-base', revision: 'main' });
  expect(recipe.adapters.instruct.lora.targets).toEqual(['q', 'v']);
  expect(recipe.adapters.qa.on).toEqual(['instruct']);
});
