// GPT-2 end to end in-process on a random-init GPT-2 (`init` with modelType gpt2): datasets tokenised without BOS, a
// domain adapter and a task adapter trained on top of it with PEFT's GPT-2 names and fan_in_fan_out, composed and
// evaluated (perplexity, exact match), exported (PEFT folder; merged into the Conv1D weights, which scores as the stack).
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../../src/engine/index.ts';
import { readSafetensors } from '../../../src/hf/safetensors.ts';
import { syntheticQa } from '../../helpers/synthetic-qa.ts';
import { TempProject, stage } from '../../helpers/project.ts';
import type { BuildReport } from '../../../src/exec/reporter.ts';

const maxDiff = (a: number[], b: number[]) => Math.max(...a.map((x, i) => Math.abs(x - b[i])));
const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const skip = readdirSync(join(ROOT, 'native', 'build', 'Release')).includes('peft_engine.node') ? '' : 'native addon not built (npm run build:native)';

const train = {
  quant: 'nf4',
  compute: 'fp32',
  lora: { r: 4, alpha: 8, dropout: 0 },
  lr: 0.003,
  warmup: 1,
  batchSize: 4,
  seqLen: 48,
  checkpointEvery: 0,
  evalEvery: 0,
};
const pipeline = {
  models: {
    base: {
      init: { modelType: 'gpt2', vocabSize: 512, hiddenSize: 64, intermediateSize: 256, numLayers: 2, numHeads: 4, maxPositionEmbeddings: 160, seed: 3 },
    },
  },
  datasets: {
    docs: { model: 'base', source: { files: ['docs/*.md'], documents: 'paragraph' }, format: 'text', seqLen: 48, split: { valid: 0.2, seed: 1 } },
    qa: { model: 'base', source: { files: ['data/qa.jsonl'] }, format: 'qa', maxTokens: 160, split: { valid: 0.2, seed: 1 } },
  },
  adapters: {
    domain: { base: 'base', data: 'docs', maxSteps: 4, ...train },
    task: { base: 'base', data: 'qa', on: ['domain'], maxSteps: 4, ...train, seqLen: 160, lora: { ...train.lora, targets: ['c_attn', 'c_proj'] } },
  },
  compositions: { assistant: { base: 'base', adapters: [{ name: 'domain' }, { name: 'task' }] } },
  evals: { report: { compositions: ['assistant'], datasets: ['qa'], maxExamples: 4, maxNewTokens: 4 } },
  exports: {
    merged: { composition: 'assistant', path: 'dist/merged', format: 'merged', dtype: 'fp32' },
    task: { adapter: 'task', path: 'dist/task', format: 'peft' },
  },
};

const DOC = `# Routers\n\nA router sends packets between networks. It reads the address of each packet and picks the next hop.\n\nRestart the router when the light blinks red. Wait one minute before you plug it back in.\n\nThe guest network keeps visitors away from your own devices. Turn it on in the settings page.\n\nFirmware updates fix bugs and close security holes. Install them when the app tells you to.\n`;

describe.skipIf(skip !== '')(`GPT-2 pipeline (init gpt2 -> datasets -> domain + task -> composition -> eval)${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let p: TempProject;
  let report: BuildReport;
  const obj = (name: string, ...rel: string[]) => p.path(join('artifacts', 'objects', stage(report, name).key, ...rel));
  beforeAll(async () => {
    p = new TempProject('peftmake-gpt2-');
    for (let i = 0; i < 4; i++) p.write(`docs/d${i}.md`, DOC.replaceAll('router', ['router', 'modem', 'switch', 'hub'][i]));
    const qa = syntheticQa(24, 5).map((q) => JSON.stringify({ context: q.context, question: q.question, answers: { text: [q.answer] } }));
    p.write('data/qa.jsonl', `${qa.join('\n')}\n`);
    p.pipeline(pipeline);
    report = await p.build();
    if (!report.ok) console.log(JSON.stringify(report.stages.filter((x) => x.error)));
  }, 120_000);
  afterAll(() => p?.cleanup());

  it('builds every stage; the second build is a no-op', async () => {
    expect(report.ok).toBe(true);
    expect(report.stages.every((s) => s.action === 'built')).toBe(true);
    expect((await p.build()).stages.every((s) => s.action === 'fresh')).toBe(true);
  });

  it('refuses a training seqLen past n_positions, naming the key', async () => {
    const q = new TempProject('peftmake-gpt2-long-');
    try {
      q.write('docs/a.md', DOC);
      q.pipeline({
        models: pipeline.models,
        datasets: { docs: { ...pipeline.datasets.docs, seqLen: 200 } },
        adapters: { domain: { ...pipeline.adapters.domain, seqLen: 200 } },
      });
      const r = await q.build();
      expect(r.ok).toBe(false);
      expect(stage(r, 'adapters.domain').error).toMatch(/seqLen 200 is longer than the GPT-2 base's context \(n_positions 160\)/);
    } finally {
      q.cleanup();
    }
  });

  it('tokenises without BOS (GPT-2) and ends answers with eos', () => {
    const cfg = JSON.parse(readFileSync(obj('models.base', 'model', 'config.json'), 'utf8'));
    expect(cfg).toMatchObject({ model_type: 'gpt2', n_embd: 64, n_positions: 160, bos_token_id: 1 });
    for (const ds of ['datasets.docs', 'datasets.qa']) {
      const rows = readFileSync(obj(ds, 'train.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { ids: number[] });
      expect(rows.length).toBeGreaterThan(0);
      for (const r of rows) expect(r.ids[0]).not.toBe(1);
    }
  });

  it('adapters carry PEFT GPT-2 names, shapes and fan_in_fan_out; the eval scored the composition', async () => {
    const dir = obj('adapters.task');
    const cfg = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ fan_in_fan_out: true, target_modules: ['c_attn', 'c_proj'], r: 4, lora_alpha: 8 });
    const t = readSafetensors(join(dir, 'adapter_model.safetensors')).tensors;
    expect([...t.keys()].sort()).toEqual(
      [0, 1]
        .flatMap((l) =>
          ['attn.c_attn', 'attn.c_proj', 'mlp.c_proj'].flatMap((m) => ['A', 'B'].map((x) => `base_model.model.transformer.h.${l}.${m}.lora_${x}.weight`)),
        )
        .sort(),
    );
    expect(t.get('base_model.model.transformer.h.0.attn.c_attn.lora_B.weight')!.shape).toEqual([192, 4]);
    const domain = readSafetensors(join(obj('adapters.domain'), 'adapter_model.safetensors')).tensors;
    expect(domain.has('base_model.model.transformer.h.1.mlp.c_fc.lora_A.weight')).toBe(true); // all-linear
    const metrics = JSON.parse(readFileSync(obj('evals.report', 'metrics.json'), 'utf8'));
    const row = metrics.rows.find((r: { subject: string; dataset: string }) => r.subject === 'assistant' && r.dataset === 'qa');
    expect(row.perplexity).toBeGreaterThan(1);
    expect(row.perplexity).toBeLessThan(1000);
    expect(row.exact_match).toBeGreaterThanOrEqual(0);
    const m = await loadModel({ dir: obj('models.base', 'model') });
    const a = await m.loadAdapter(obj('adapters.domain'));
    const b = await m.loadAdapter(dir);
    const ids = [5, 6, 7, 8, 9, 10, 11, 12];
    const base = await m.score(ids);
    const s = await m.score(ids, [{ adapter: a }, { adapter: b }]);
    expect(s.logprobs).not.toEqual(base.logprobs); // the trained adapters change the model
    // the merged export (W + s·(B·A)ᵀ per Conv1D, both adapters) scores as the stack does
    const merged = await loadModel({ dir: p.path('dist/merged') });
    expect(maxDiff((await merged.score(ids)).logprobs, s.logprobs)).toBeLessThan(1e-4);
    const peft = JSON.parse(readFileSync(p.path('dist/task/adapter_config.json'), 'utf8'));
    expect(peft.fan_in_fan_out).toBe(true);
  });
});
