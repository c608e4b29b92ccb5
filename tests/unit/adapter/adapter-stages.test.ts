// The model, adapter, composition and eval stage kinds run on stories260K through hand-made RunContexts: a domain
// adapter lowers held-out loss, a task adapter trained on top of it raises exact match, stack == cat merge,
// disabling an adapter == the composition without it, weight diffs from factors, resume after an interruption.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type AdapterUse } from '../../../src/engine/index.ts';
import type { UpstreamArtifact } from '../../../src/stage.ts';
import { runModelStage } from '../../../stages/model/model-stage.ts';
import { runAdapterStage, type TrainStageConfig } from '../../../stages/adapter/adapter-stage.ts';
import { moduleDiffs } from '../../../stages/adapter/weight-diff.ts';
import { runCompositionStage, type ComposeConfig } from '../../../stages/composition/composition-stage.ts';
import { runtimeAdapters } from '../../../stages/shared/composition-file.ts';
import { runEvalStage, type EvalRow, type EvalStageConfig } from '../../../stages/eval/eval-stage.ts';
import { readPeftAdapter } from '../../../stages/shared/adapter-io.ts';
import { runExportStage } from '../../../stages/export/export-stage.ts';
import { datasetArtifact, makeHarness, qaRecord, textRecords, type Harness } from '../../helpers/stage-harness.ts';
import { syntheticQa } from '../../helpers/synthetic-qa.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const FIX = resolve(here, '..', '..', '..', '..', 'shared', 'fixtures');
const MODEL = join(FIX, 'stories260K', 'hf');
const STORIES = join(FIX, 'tinystories-sample', 'tinystories.txt');
const ADDON = resolve(here, '..', '..', '..', 'native', 'build', 'Release', 'peft_engine.node');
const skip = !existsSync(MODEL) ? '../shared/fixtures is absent' : !existsSync(ADDON) ? 'native addon not built (npm run build:native)' : '';

const common: Partial<TrainStageConfig> = { quant: 'none', compute: 'fp32', checkpointEvery: 0, warmup: 2, schedule: 'cosine' };

describe.skipIf(skip !== '')(`adapter stages on stories260K${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let h: Harness;
  let model: UpstreamArtifact;
  let stories: UpstreamArtifact;
  let qa: UpstreamArtifact;
  let domain: UpstreamArtifact;
  let task: UpstreamArtifact;
  let stack: UpstreamArtifact;
  let evalRows: EvalRow[];

  beforeAll(async () => {
    h = makeHarness();
    model = (await h.build('models.base', runModelStage, { path: MODEL }, [])).artifact;
    const docs = readFileSync(STORIES, 'utf8').split(/\n\n+/);
    stories = datasetArtifact(h, 'datasets.stories', 'text', textRecords(MODEL, docs.slice(0, 300), 128), textRecords(MODEL, docs.slice(900, 960), 128));
    const items = syntheticQa(260, 7).map((q) => qaRecord(MODEL, q));
    qa = datasetArtifact(h, 'datasets.qa', 'qa', items.slice(0, 230), items.slice(230));
    domain = (
      await h.build(
        'adapters.domain',
        runAdapterStage,
        { ...common, base: 'base', data: 'stories', lora: { r: 8, alpha: 16, dropout: 0 }, lr: 2e-3, maxSteps: 30, batchSize: 4, seqLen: 128 },
        [model, stories],
      )
    ).artifact;
    task = (
      await h.build(
        'adapters.task',
        runAdapterStage,
        { ...common, base: 'base', data: 'qa', on: ['domain'], lora: { r: 8, alpha: 16, dropout: 0 }, lr: 4e-3, maxSteps: 120, batchSize: 8, seqLen: 128 },
        [model, qa, domain],
      )
    ).artifact;
    stack = (
      await h.build('compositions.assistant', runCompositionStage, { base: 'base', adapters: [{ name: 'domain' }, { name: 'task' }] } as ComposeConfig, [
        model,
        domain,
        task,
      ])
    ).artifact;
    const ev = await h.build(
      'evals.report',
      runEvalStage,
      { compositions: ['assistant'], datasets: ['stories', 'qa'], maxExamples: 30, maxNewTokens: 8 } as EvalStageConfig,
      [stack, stories, qa],
    );
    evalRows = JSON.parse(readFileSync(join(ev.artifact.dir, 'metrics.json'), 'utf8')).rows;
  }, 600_000);
  afterAll(() => h?.cleanup());

  const row = (subject: string, dataset: string) => evalRows.find((r) => r.subject === subject && r.dataset === dataset)!;

  it('model stage points at the local directory and records its shape', () => {
    expect(JSON.parse(readFileSync(join(model.dir, 'model.json'), 'utf8'))).toEqual({ dir: MODEL });
    expect(JSON.parse(readFileSync(join(model.dir, 'info.json'), 'utf8'))).toMatchObject({
      modelType: 'llama',
      vocabSize: 512,
      numLayers: 5,
      hasTokenizer: true,
    });
  });

  it('writes a PEFT adapter with logs, metadata and metrics', () => {
    for (const f of ['adapter_config.json', 'adapter_model.safetensors', 'train_log.jsonl', 'adapter.json', 'metrics.json'])
      expect(existsSync(join(domain.dir, f)), f).toBe(true);
    const log = readFileSync(join(task.dir, 'train_log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(log).toHaveLength(120);
    expect(log[119].step).toBe(120);
    const meta = JSON.parse(readFileSync(join(task.dir, 'adapter.json'), 'utf8'));
    expect(meta.stack).toEqual([{ name: 'domain', key: domain.key }]);
    expect(meta.objective).toBe('answer-only');
    // The compute mode actually run and its kernels are recorded in the metadata and on every log line.
    expect(['fp32', 'bf16']).toContain(meta.engine.compute);
    expect(meta.engine.kernels).toMatch(/\S/);
    expect(meta.engine.threads).toBeGreaterThan(0);
    expect(log.every((r) => r.compute === meta.engine.compute)).toBe(true);
    const m = JSON.parse(readFileSync(join(task.dir, 'metrics.json'), 'utf8'));
    expect(m.steps).toBe(120);
    expect(m.perplexity).toBeCloseTo(Math.exp(m.valid_loss), 10);
    expect(m.train_loss).toBeLessThan(m.first_loss / 2);
  });

  it('gradientCheckpointing recomputes layers (4 of 5 with no budget, fewer with a 4 MB budget) and trains the same numbers', async () => {
    const cfg = { ...common, base: 'base', data: 'stories', lora: { r: 8, alpha: 16, dropout: 0 }, lr: 2e-3, maxSteps: 6, batchSize: 4, seqLen: 128 };
    const plain = (await h.build('adapters.plain', runAdapterStage, cfg, [model, stories])).artifact;
    const ck = (await h.build('adapters.ck', runAdapterStage, { ...cfg, gradientCheckpointing: true }, [model, stories])).artifact;
    const part = (await h.build('adapters.part', runAdapterStage, { ...cfg, gradientCheckpointing: true, activationBudgetMB: 4 }, [model, stories])).artifact;
    const m = (a: UpstreamArtifact) => JSON.parse(readFileSync(join(a.dir, 'metrics.json'), 'utf8'));
    expect(m(plain).recomputed_layers).toBe(0);
    expect(m(ck).recomputed_layers).toBe(4);
    expect(m(part).recomputed_layers).toBeGreaterThan(0);
    expect(m(part).recomputed_layers).toBeLessThan(4);
    expect(m(ck).activation_mb).toBeLessThan(m(plain).activation_mb);
    for (const a of [ck, part]) {
      expect(m(a).train_loss).toBe(m(plain).train_loss); // recomputation repeats the same arithmetic: same bits
      expect(m(a).valid_loss).toBe(m(plain).valid_loss);
    }
  });

  it('the domain adapter lowers held-out perplexity on tinystories', () => {
    expect(row('domain', 'stories').perplexity!).toBeLessThan(row('base', 'stories').perplexity! * 0.97);
  });

  it('the task adapter (on top of domain) raises exact match and F1 on held-out questions', () => {
    const base = row('base', 'qa');
    const comp = row('assistant', 'qa');
    expect(comp.examples).toBe(30);
    // At least 6 of the 30 held-out answers become exact (the count moves by one between builds whose float rounding
    // differs, e.g. with and without FMA contraction), and the answers' perplexity falls by orders of magnitude.
    expect(comp.exact_match!).toBeGreaterThanOrEqual(base.exact_match! + 0.2);
    expect(comp.f1!).toBeGreaterThan(base.f1! + 0.2);
    expect(comp.perplexity!).toBeLessThan(base.perplexity! / 100);
  });

  it('evals can score on the NF4 base the adapters were trained for: other numbers, within NF4 error, same ranking', async () => {
    const ev = await h.build(
      'evals.nf4',
      runEvalStage,
      { compositions: ['assistant'], datasets: ['stories'], metrics: ['perplexity'], maxExamples: 30, quant: 'nf4' } as EvalStageConfig,
      [stack, stories, qa],
    );
    const rows: EvalRow[] = JSON.parse(readFileSync(join(ev.artifact.dir, 'metrics.json'), 'utf8')).rows;
    const nf4 = (subject: string) => rows.find((r) => r.subject === subject && r.dataset === 'stories')!.perplexity!;
    expect(nf4('base')).not.toBe(row('base', 'stories').perplexity);
    expect(Math.abs(Math.log(nf4('base') / row('base', 'stories').perplexity!))).toBeLessThan(0.15); // mean NLL within 0.15 nats
    expect(nf4('domain')).toBeLessThan(nf4('base'));
  });

  it('stack and cat merge give the same logits within 1e-5', async () => {
    const cat = (
      await h.build(
        'compositions.merged',
        runCompositionStage,
        {
          base: 'base',
          adapters: [
            { name: 'domain', weight: 1 },
            { name: 'task', weight: 0.5 },
          ],
          method: 'cat',
        } as ComposeConfig,
        [model, domain, task],
      )
    ).artifact;
    const half = (
      await h.build(
        'compositions.half',
        runCompositionStage,
        {
          base: 'base',
          adapters: [
            { name: 'domain', weight: 1 },
            { name: 'task', weight: 0.5 },
          ],
        } as ComposeConfig,
        [model, domain, task],
      )
    ).artifact;
    const m = await loadModel({ dir: MODEL, quant: 'none', compute: 'fp32' });
    const use = async (dir: string): Promise<AdapterUse[]> =>
      Promise.all(runtimeAdapters(dir).adapters.map(async (a) => ({ adapter: await m.loadAdapter(a.dir, a.name), weight: a.weight })));
    const ids = qaRecord(MODEL, syntheticQa(1, 99)[0]).ids;
    const a = (await m.score(ids, await use(half.dir), { logits: true })).logits!;
    const b = (await m.score(ids, await use(cat.dir), { logits: true })).logits!;
    const base = (await m.score(ids, [], { logits: true })).logits!;
    let maxDiff = 0;
    let moved = 0;
    let scale = 0;
    for (let i = 0; i < a.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
      moved = Math.max(moved, Math.abs(a[i] - base[i]));
      scale = Math.max(scale, Math.abs(a[i]));
    }
    // fp32 sums in a different order: within 1e-5 relative to the largest logit (about 3e-6 observed)
    expect(maxDiff / scale).toBeLessThan(1e-5);
    expect(moved).toBeGreaterThan(0.1); // the adapters do change the logits
    expect(readPeftAdapter(join(cat.dir, 'adapter')).r).toBe(16);
  });

  it('disabling the task adapter gives exactly the logits of base + domain', async () => {
    const m = await loadModel({ dir: MODEL, quant: 'none', compute: 'fp32' });
    const ids = qaRecord(MODEL, syntheticQa(1, 5)[0]).ids;
    const { adapters } = runtimeAdapters(stack.dir, { disable: ['task'] });
    expect(adapters.map((a) => a.name)).toEqual(['domain']);
    const off = (await m.score(ids, [{ adapter: await m.loadAdapter(adapters[0].dir), weight: 1 }], { logits: true })).logits!;
    const domainOnly = (await m.score(ids, [{ adapter: await m.loadAdapter(domain.dir), weight: 1 }], { logits: true })).logits!;
    expect(Array.from(off)).toEqual(Array.from(domainOnly));
    expect(() => runtimeAdapters(stack.dir, { disable: ['nope'] })).toThrow(/has no adapter "nope" \(it has domain, task\)/);
  });

  it('weight diff: factored norms match the dense product; identical versions differ by zero', () => {
    const self = moduleDiffs(task.dir, task.dir);
    expect(self.length).toBe(35); // 5 layers × 7 projections
    for (const r of self) {
      expect(r.normDiff).toBeLessThan(1e-6 * Math.max(1, r.normA));
      if (r.cosine !== null) expect(r.cosine).toBeCloseTo(1, 9);
    }
    const d = moduleDiffs(domain.dir, task.dir);
    const A = readPeftAdapter(domain.dir).modules.get('base_model.model.model.layers.0.self_attn.q_proj')!;
    const B = readPeftAdapter(task.dir).modules.get('base_model.model.model.layers.0.self_attn.q_proj')!;
    const dense = (m: typeof A) => {
      const out = new Float64Array(m.b.rows * m.a.cols);
      for (let o = 0; o < m.b.rows; o++)
        for (let k = 0; k < m.b.cols; k++)
          for (let i = 0; i < m.a.cols; i++) out[o * m.a.cols + i] += m.scaling * m.b.data[o * m.b.cols + k] * m.a.data[k * m.a.cols + i];
      return out;
    };
    const da = dense(A);
    const db = dense(B);
    const norm = (x: Float64Array) => Math.sqrt(x.reduce((s, v) => s + v * v, 0));
    const q = d.find((r) => r.module === 'layers.0.self_attn.q_proj')!;
    expect(q.normA).toBeCloseTo(norm(da), 9);
    expect(q.normB).toBeCloseTo(norm(db), 9);
    expect(q.normDiff).toBeCloseTo(norm(da.map((v, i) => db[i] - v)), 9);
    expect(q.cosine!).toBeCloseTo(da.reduce((s, v, i) => s + v * db[i], 0) / (norm(da) * norm(db)), 9);
  });

  it('an interrupted training resumes from its checkpoint and ends where an uninterrupted run does', async () => {
    const cfg = {
      ...common,
      base: 'base',
      data: 'stories',
      lora: { r: 4, alpha: 8, dropout: 0.1 },
      lr: 1e-3,
      maxSteps: 12,
      batchSize: 2,
      seqLen: 64,
      checkpointEvery: 4,
      seed: 3,
    } as TrainStageConfig;
    const full = (await h.build('adapters.full', runAdapterStage, cfg, [model, stories])).artifact;
    const resumeDir = join(h.root, 'resume-test');
    const ac = new AbortController();
    let lines = 0;
    const first = h.build('adapters.cut', runAdapterStage, cfg, [model, stories], {
      resumeDir,
      signal: ac.signal,
    });
    // abort once the first checkpoint exists (a step-<n> folder appears whole, by rename)
    const ckpts = join(resumeDir, 'checkpoints');
    const steps = () => (existsSync(ckpts) ? readdirSync(ckpts).filter((n) => n.startsWith('step-')) : []);
    const timer = setInterval(() => {
      if (steps().length) ac.abort();
    }, 5);
    await expect(first).rejects.toMatchObject({ code: 'E_CANCELLED' });
    clearInterval(timer);
    lines = readFileSync(join(ckpts, steps()[0], 'train_log.jsonl'), 'utf8')
      .trim()
      .split('\n').length;
    expect(lines % 4).toBe(0);
    expect(lines).toBeLessThan(12);
    const logs: string[] = [];
    const second = (await h.build('adapters.cut', runAdapterStage, cfg, [model, stories], { resumeDir, onLog: (l) => logs.push(l) })).artifact;
    expect(logs.some((l) => /resuming from the checkpoint at step [48]\/12/.test(l))).toBe(true);
    const m = JSON.parse(readFileSync(join(second.dir, 'metrics.json'), 'utf8'));
    expect(m.resumed_from_step).toBe(lines);
    expect(readFileSync(join(second.dir, 'train_log.jsonl'), 'utf8').trim().split('\n')).toHaveLength(12);
    const a = readPeftAdapter(full.dir);
    const b = readPeftAdapter(second.dir);
    for (const [k, ma] of a.modules) {
      const mb = b.modules.get(k)!;
      for (let i = 0; i < ma.a.data.length; i++) expect(Math.abs(ma.a.data[i] - mb.a.data[i])).toBeLessThan(1e-6);
      for (let i = 0; i < ma.b.data.length; i++) expect(Math.abs(ma.b.data[i] - mb.b.data[i])).toBeLessThan(1e-6);
    }
  });

  it('exports an adapter and a merged composition as PEFT directories; a stack as one PEFT directory per adapter', async () => {
    await h.build('exports.task', runExportStage, { adapter: 'task', path: 'export/task' }, [task]);
    expect(readFileSync(join(h.root, 'export', 'task', 'adapter_model.safetensors'))).toEqual(readFileSync(join(task.dir, 'adapter_model.safetensors')));
    const cat = (
      await h.build(
        'compositions.catted',
        runCompositionStage,
        { base: 'base', adapters: [{ name: 'domain' }, { name: 'task' }], method: 'cat' } as ComposeConfig,
        [model, domain, task],
      )
    ).artifact;
    await h.build('exports.merged', runExportStage, { composition: 'catted', path: 'export/merged' }, [cat]);
    expect(readPeftAdapter(join(h.root, 'export', 'merged')).r).toBe(16);
    await h.build('exports.stack', runExportStage, { composition: 'assistant', path: 'export/stack' }, [stack]);
    expect(readFileSync(join(h.root, 'export', 'stack', 'domain', 'adapter_model.safetensors'))).toEqual(
      readFileSync(join(domain.dir, 'adapter_model.safetensors')),
    );
    expect(readPeftAdapter(join(h.root, 'export', 'stack', 'task')).r).toBe(8);
  });
});
