// Runs an `evals.<name>` stage: perplexity on each dataset's held-out split for the base, each adapter alone and each
// composition; exact match and token F1 (SQuAD) on qa sets by greedy generation; a table (log + table.md) and
// metrics.json; the optional gate compares each composition with its previous version on the same held-out data (the
// previous eval's rows, or the previous version scored again when the data changed) and reports regressions.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadModel, type AdapterUse, type EngineModel } from '../../src/engine/index.ts';
import { loadT5Model, T5Model, type T5AdapterUse } from '../../src/engine/t5.ts';
import { seq2seqModel } from '../../src/hf/model-family.ts';
import { t5Perplexity, t5QaScores } from './t5-scoring.ts';

/** A scored model: Llama family, or T5 (encoder-decoder, its own handle kind and seq2seq records). */
type EvalModel = EngineModel | T5Model;
type EvalUse = AdapterUse | T5AdapterUse;
async function loadUse(model: EvalModel, dir: string, name: string, weight: number): Promise<EvalUse> {
  return { adapter: await model.loadAdapter(dir, name), weight } as EvalUse;
}
import type { RunContext, RunResult, UpstreamArtifact } from '../../src/stage.ts';
import { upstreamOf } from '../shared/adapter-artifact.ts';
import { checkRecordVocab, readTokenRecords, type TokenRecord } from '../shared/token-records.ts';
import { runtimeAdapters, type RuntimeAdapter } from '../shared/composition-file.ts';
import { bestOver, exactMatch, tokenF1 } from './squad-metrics.ts';
import { checkGate, type Baseline, type GateConfig, type GateResult, type Uncompared } from './gate.ts';
import { planBaselines, scoringSettings, type PreviousEval } from './gate-baseline.ts';
import { formatTable } from './table.ts';

export interface EvalStageConfig {
  compositions: string[];
  datasets: string[];
  metrics?: ('perplexity' | 'exact_match' | 'f1')[];
  maxExamples?: number;
  maxNewTokens?: number;
  quant?: 'none' | 'nf4';
  compute?: 'fp32' | 'bf16' | 'auto';
  gate?: GateConfig;
}

export interface Subject {
  label: string; // 'base', an adapter name, or a composition name
  kind: 'base' | 'adapter' | 'composition';
  modelDir: string;
  adapters: RuntimeAdapter[];
}

export interface EvalRow {
  subject: string;
  kind: Subject['kind'];
  dataset: string;
  examples: number;
  perplexity?: number;
  exact_match?: number;
  f1?: number;
}

/** The subjects: each base, each adapter alone (first by appearance), then each composition. */
export function subjectsOf(comps: { name: string; dir: string }[]): Subject[] {
  const bases: Subject[] = [];
  const singles: Subject[] = [];
  const composed: Subject[] = [];
  const seen = new Set<string>();
  for (const c of comps) {
    const { file, adapters } = runtimeAdapters(c.dir, { objectsDir: dirname(c.dir) });
    if (!bases.some((b) => b.modelDir === file.base.modelDir))
      bases.push({ label: bases.length ? `base:${file.base.name}` : 'base', kind: 'base', modelDir: file.base.modelDir, adapters: [] });
    for (const a of file.adapters) {
      if (seen.has(a.key)) continue;
      seen.add(a.key);
      const inStore = join(dirname(c.dir), a.key);
      singles.push({
        label: a.name,
        kind: 'adapter',
        modelDir: file.base.modelDir,
        adapters: [{ name: a.name, dir: existsSync(inStore) ? inStore : a.dir, weight: 1 }],
      });
    }
    composed.push({ label: c.name, kind: 'composition', modelDir: file.base.modelDir, adapters });
  }
  // An adapter and a composition may share a name (a persona composition of one adapter): keep labels unique.
  const compNames = new Set(composed.map((c) => c.label));
  for (const s of singles) if (compNames.has(s.label)) s.label = `adapter:${s.label}`;
  return [...bases, ...singles, ...composed];
}

/** Position of the first loss token: the prompt is everything before it. */
export function promptLength(r: TokenRecord): number {
  const i = r.labels.findIndex((l, t) => t > 0 && l !== -100);
  return i < 0 ? r.ids.length : i;
}

export function goldAnswers(r: TokenRecord, decode: (ids: number[]) => string, eos: number[]): string[] {
  const a = r.answers as unknown;
  if (Array.isArray(a) && a.every((x) => typeof x === 'string')) return a as string[];
  const t = (a as { text?: unknown } | undefined)?.text;
  if (Array.isArray(t) && t.every((x) => typeof x === 'string')) return t as string[];
  const ids = r.labels.filter((l, i) => i > 0 && l !== -100 && !eos.includes(l));
  return [decode(ids).trim()];
}

/**
 * The generated answer: up to EOS, cut at the first line break (the qa template answers on one line) and at the first
 * U+FFFD (bytes that do not decode to text: a small byte-level model's babble after the answer).
 */
export function cleanPrediction(text: string): string {
  return text.split('\n')[0].split('\uFFFD')[0].trim();
}

async function perplexity(model: EvalModel, records: TokenRecord[], adapters: EvalUse[]): Promise<number> {
  if (model instanceof T5Model) return t5Perplexity(model, records, adapters as T5AdapterUse[]);
  let nll = 0;
  let n = 0;
  for (const r of records) {
    const ids = r.ids.slice(0, model.info.maxPositionEmbeddings);
    const { logprobs } = await model.score(ids, adapters as AdapterUse[]);
    for (let t = 0; t < logprobs.length; t++)
      if (r.labels[t + 1] !== -100) {
        nll -= logprobs[t];
        n++;
      }
  }
  return n ? Math.exp(nll / n) : NaN;
}

async function qaScores(
  model: EvalModel,
  records: TokenRecord[],
  adapters: EvalUse[],
  maxNewTokens: number,
): Promise<{ em: number; f1: number; samples: { prediction: string; gold: string[] }[] }> {
  if (model instanceof T5Model) return t5QaScores(model, records, adapters as T5AdapterUse[], maxNewTokens, cleanPrediction, goldAnswers);
  const eos = model.info.eosTokenIds;
  let em = 0;
  let f1 = 0;
  const samples: { prediction: string; gold: string[] }[] = [];
  for (const r of records) {
    const p = promptLength(r);
    const out = await model.generate(r.ids.slice(0, p), { maxTokens: maxNewTokens, temperature: 0 }, adapters as AdapterUse[]);
    const cut = out.findIndex((t) => eos.includes(t));
    const prediction = cleanPrediction(model.tokenizer.decode(cut < 0 ? out : out.slice(0, cut), { skipSpecial: true }));
    const gold = goldAnswers(r, (ids) => model.tokenizer.decode(ids, { skipSpecial: true }), eos);
    em += bestOver(prediction, gold, exactMatch);
    f1 += bestOver(prediction, gold, tokenF1);
    if (samples.length < 5) samples.push({ prediction, gold });
  }
  return { em: records.length ? em / records.length : NaN, f1: records.length ? f1 / records.length : NaN, samples };
}

export async function runEvalStage(ctx: RunContext<EvalStageConfig>): Promise<RunResult> {
  const c = ctx.config;
  const wanted = new Set(c.metrics ?? ['perplexity', 'exact_match', 'f1']);
  const maxExamples = c.maxExamples ?? 200;
  const maxNewTokens = c.maxNewTokens ?? 32;
  const comps = c.compositions.map((n) => ({ name: n, dir: upstreamOf(ctx, `compositions.${n}`).dir }));
  const subjects = subjectsOf(comps);
  const formats = (ctx.pipeline.datasets ?? {}) as Record<string, { format?: string }>;
  const datasets = c.datasets.map((n) => {
    const file = join(upstreamOf(ctx, `datasets.${n}`).dir, 'valid.jsonl');
    const all = readTokenRecords(file);
    return { name: n, file, format: formats[n]?.format ?? 'text', records: maxExamples > 0 ? all.slice(0, maxExamples) : all };
  });
  for (const d of datasets) if (d.records.length === 0) ctx.log(`${ctx.name}: datasets.${d.name} has no held-out (valid) records: nothing to score`);

  const models = new Map<string, EvalModel>();
  const getModel = async (dir: string) => {
    let m = models.get(dir);
    const opts = { dir, quant: c.quant ?? 'none', compute: c.compute ?? 'fp32' } as const;
    if (!m) models.set(dir, (m = seq2seqModel(dir) ? await loadT5Model(opts) : await loadModel(opts)));
    return m;
  };
  const rows: EvalRow[] = [];
  const samples: Record<string, unknown> = {};
  let done = 0;
  const total = subjects.length * datasets.length;
  for (const s of subjects) {
    const model = await getModel(s.modelDir);
    const uses: EvalUse[] = [];
    for (const a of s.adapters) uses.push(await loadUse(model, a.dir, a.name, a.weight));
    for (const d of datasets) {
      if (ctx.signal.aborted) break;
      const row: EvalRow = { subject: s.label, kind: s.kind, dataset: d.name, examples: d.records.length };
      checkRecordVocab(
        d.file,
        d.records,
        model.info.vocabSize,
        s.label,
        `datasets.${d.name} is tokenized for another model: score it with a composition of the dataset's model`,
      );
      if (d.records.length) {
        if (wanted.has('perplexity')) row.perplexity = await perplexity(model, d.records, uses);
        if (d.format === 'qa' && (wanted.has('exact_match') || wanted.has('f1'))) {
          const q = await qaScores(model, d.records, uses, maxNewTokens);
          if (wanted.has('exact_match')) row.exact_match = q.em;
          if (wanted.has('f1')) row.f1 = q.f1;
          samples[`${s.label}/${d.name}`] = q.samples;
        }
      }
      rows.push(row);
      ctx.progress({ step: ++done, total, unit: 'eval', message: `${s.label} on ${d.name}` });
    }
  }

  const { baselines, uncompared } = await gateBaselines(ctx, datasets, getModel);
  const gate: GateResult = checkGate(c.gate ?? {}, rows, baselines, ctx.upstream, c.compositions, ctx.previous?.manifest.upstream, uncompared);
  const table = formatTable(
    rows,
    datasets.map((d) => ({ name: d.name, qa: d.format === 'qa' })),
    wanted,
  );
  for (const line of table.split('\n')) ctx.log(line);
  for (const line of gate.messages) ctx.log(`${ctx.name}: ${line}`);
  writeFileSync(join(ctx.outDir, 'table.md'), table + '\n');
  writeFileSync(join(ctx.outDir, 'metrics.json'), JSON.stringify({ rows, gate, samples }, null, 2) + '\n');
  const flat: Record<string, unknown> = {};
  for (const r of rows)
    for (const k of ['perplexity', 'exact_match', 'f1'] as const) if (r[k] !== undefined) flat[`${r.subject}/${r.dataset}/${k}`] = Number(r[k]!.toFixed(6));
  flat.gate_passed = gate.passed;
  return {
    metrics: flat,
    summary: `${subjects.length} subjects × ${datasets.length} datasets${gate.passed ? '' : `; ${gate.messages.join('; ')}`}`,
    ...(Object.keys(gate.keep).length ? { keep: gate.keep } : {}),
  };
}

function readPreviousEval(prev: UpstreamArtifact | undefined): PreviousEval | undefined {
  if (!prev || !existsSync(join(prev.dir, 'metrics.json'))) return undefined;
  const m = JSON.parse(readFileSync(join(prev.dir, 'metrics.json'), 'utf8')) as { rows?: EvalRow[] };
  return { config: prev.manifest.config, upstream: prev.manifest.upstream ?? {}, rows: m.rows ?? [] };
}

/** A previous composition version as an eval subject, or undefined where it (or an adapter of it) left the store. */
function storedSubject(name: string, dir: string, objectsDir: string): Subject | undefined {
  if (!existsSync(join(dir, 'composition.json'))) return undefined;
  const { file, adapters } = runtimeAdapters(dir, { objectsDir });
  if (!adapters.every((a) => existsSync(join(a.dir, 'adapter_model.safetensors')))) return undefined;
  return { label: name, kind: 'composition', modelDir: file.base.modelDir, adapters };
}

/**
 * What the gate compares each composition with, on this eval's held-out records: the previous eval's perplexity where
 * it scored the same records the same way, else the previous version scored again now (or why it cannot be).
 */
async function gateBaselines(
  ctx: RunContext<EvalStageConfig>,
  datasets: { name: string; records: TokenRecord[] }[],
  getModel: (dir: string) => Promise<EvalModel>,
): Promise<{ baselines: Baseline[]; uncompared: Uncompared[] }> {
  const c = ctx.config;
  const baselines: Baseline[] = [];
  const uncompared: Uncompared[] = [];
  if (!((c.gate?.maxPerplexityIncrease ?? 0) > 0)) return { baselines, uncompared };
  const keys = Object.fromEntries(Object.values(ctx.upstream).map((u) => [u.name, u.key]));
  const plan = planBaselines(c.compositions, c.datasets, { keys, settings: scoringSettings(c) }, readPreviousEval(ctx.previous));
  const loaded = new Map<string, { model: EvalModel; uses: EvalUse[] } | undefined>();
  for (const p of plan) {
    if (p.use === 'previous-eval') baselines.push({ composition: p.composition, dataset: p.dataset, key: p.key, perplexity: p.perplexity });
    if (p.use !== 'rescore') continue;
    const records = datasets.find((d) => d.name === p.dataset)?.records ?? [];
    if (!records.length) continue;
    if (!loaded.has(p.key)) {
      const objectsDir = dirname(upstreamOf(ctx, `compositions.${p.composition}`).dir);
      const s = storedSubject(p.composition, join(objectsDir, p.key), objectsDir);
      if (s) {
        ctx.log(`${ctx.name}: scoring compositions.${p.composition}'s previous version (${p.key.slice(0, 12)}) on the current held-out data: ${p.why}`);
        const model = await getModel(s.modelDir);
        const uses: EvalUse[] = [];
        for (const a of s.adapters) uses.push(await loadUse(model, a.dir, a.name, a.weight));
        loaded.set(p.key, { model, uses });
      } else loaded.set(p.key, undefined);
    }
    const prev = loaded.get(p.key);
    if (!prev) uncompared.push({ composition: p.composition, dataset: p.dataset, key: p.key, reason: `${p.why} and that version is no longer in the store` });
    else
      baselines.push({
        composition: p.composition,
        dataset: p.dataset,
        key: p.key,
        perplexity: await perplexity(prev.model, records, prev.uses),
        rescored: p.why,
      });
  }
  return { baselines, uncompared };
}
