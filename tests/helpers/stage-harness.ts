// Test harness for stage kinds without the executor: a hand-made RunContext, a tiny store (objects/<key>) to
// commit outputs into, and dataset artifacts in the dataset stage's output format (ids + labels, -100 = no loss).
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { RunContext, RunResult, StageManifest, UpstreamArtifact } from '../../src/stage.ts';
import { loadModelTokenizer } from '../../src/hf/tokenizer.ts';

export interface Harness {
  root: string;
  objects: string;
  pipeline: Record<string, Record<string, unknown>>;
  /** Runs a stage's run() into a temp dir, then commits it as objects/<key> (key = hash of name, config, upstream keys). */
  build<C>(
    name: string,
    run: (ctx: RunContext<C>) => Promise<RunResult>,
    config: C,
    upstream: UpstreamArtifact[],
    opts?: { resumeDir?: string; signal?: AbortSignal; resolved?: Record<string, unknown>; onLog?: (l: string) => void; previous?: UpstreamArtifact },
  ): Promise<{ artifact: UpstreamArtifact; result: RunResult }>;
  /** Commits a ready directory as an artifact (for dataset artifacts made by hand). */
  commitDir(name: string, kind: string, srcDir: string, salt: string): UpstreamArtifact;
  cleanup(): void;
}

export function makeHarness(): Harness {
  const root = mkdtempSync(join(tmpdir(), 'peftmake-adapter-'));
  const objects = join(root, 'artifacts', 'objects');
  mkdirSync(objects, { recursive: true });
  const pipeline: Record<string, Record<string, unknown>> = { models: {}, datasets: {}, adapters: {}, compositions: {}, evals: {}, exports: {} };
  const manifest = (
    name: string,
    kind: string,
    key: string,
    config: unknown,
    metrics: Record<string, unknown> = {},
    resolved: Record<string, unknown> = {},
    upstream: Record<string, string> = {},
  ): StageManifest => ({
    name,
    kind,
    implVersion: 'test',
    key,
    config,
    inputs: [],
    upstream,
    resolved,
    engineVersion: 'test',
    metrics,
    createdAt: new Date().toISOString(),
    seconds: 0,
  });
  const h: Harness = {
    root,
    objects,
    pipeline,
    async build(name, run, config, upstream, opts = {}) {
      const [section, short] = name.split('.');
      pipeline[section][short] = config as Record<string, unknown>;
      const key = createHash('sha256')
        .update(JSON.stringify({ name, config, up: upstream.map((u) => u.key), resolved: opts.resolved ?? {} }))
        .digest('hex');
      const outDir = mkdtempSync(join(root, 'tmp-'));
      const ctx: RunContext<typeof config> = {
        name,
        kind: section.replace(/s$/, ''),
        config,
        pipeline,
        projectDir: root,
        outDir,
        upstream: Object.fromEntries(upstream.map((u) => [u.name, u])),
        resolved: opts.resolved ?? {},
        inputs: [],
        ...(opts.previous ? { previous: opts.previous } : {}),
        resumeDir: opts.resumeDir ?? join(root, 'resume', name, key),
        signal: opts.signal ?? new AbortController().signal,
        json: true,
        progress() {},
        log(l) {
          opts.onLog?.(l);
        },
      };
      const result = await run(ctx);
      const dir = join(objects, key);
      rmSync(dir, { recursive: true, force: true });
      cpSync(outDir, dir, { recursive: true });
      rmSync(outDir, { recursive: true, force: true });
      const m = manifest(name, ctx.kind, key, config, result.metrics ?? {}, opts.resolved ?? {}, Object.fromEntries(upstream.map((u) => [u.name, u.key])));
      writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
      return { artifact: { name, kind: ctx.kind, key, version: 1, dir, manifest: m }, result };
    },
    commitDir(name, kind, srcDir, salt) {
      const key = createHash('sha256')
        .update(name + salt)
        .digest('hex');
      const dir = join(objects, key);
      cpSync(srcDir, dir, { recursive: true });
      return { name, kind, key, version: 1, dir, manifest: manifest(name, kind, key, {}) };
    },
    cleanup() {
      rmSync(root, { recursive: true, force: true });
    },
  };
  return h;
}

export interface QaItem {
  context: string;
  question: string;
  answer: string;
}

/** The dataset stage's built-in qa rendering: prompt (no loss) + " answer" + EOS (loss). */
export function qaRecord(modelDir: string, q: QaItem): { ids: number[]; labels: number[]; text: string; answers: string[]; prompt: string } {
  const tok = loadModelTokenizer(modelDir);
  const prompt = `Context: ${q.context}\nQuestion: ${q.question}\nAnswer:`;
  const p = tok.encode(prompt, { special: true });
  const a = [...tok.encode(' ' + q.answer, { special: false }), tok.eosId ?? 2];
  return { ids: [...p, ...a], labels: [...p.map(() => -100), ...a], text: prompt + ' ' + q.answer, answers: [q.answer], prompt };
}

/** Text documents tokenized with BOS, joined with EOS, packed into seqLen rows (loss everywhere). */
export function textRecords(modelDir: string, docs: string[], seqLen: number): { ids: number[]; labels: number[] }[] {
  const tok = loadModelTokenizer(modelDir);
  const stream = docs.flatMap((d) => [...tok.encode(d, { special: true }), tok.eosId ?? 2]);
  const out: { ids: number[]; labels: number[] }[] = [];
  for (let i = 0; i < stream.length; i += seqLen) {
    const ids = stream.slice(i, i + seqLen);
    if (ids.length >= 2) out.push({ ids, labels: [...ids] });
  }
  return out;
}

/** Writes a dataset artifact directory (train.jsonl, valid.jsonl) and commits it. */
export function datasetArtifact(h: Harness, name: string, format: string, train: object[], valid: object[]): UpstreamArtifact {
  const dir = mkdtempSync(join(h.root, 'ds-'));
  writeFileSync(join(dir, 'train.jsonl'), train.map((r) => JSON.stringify(r)).join('\n') + '\n');
  writeFileSync(join(dir, 'valid.jsonl'), valid.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const short = name.split('.')[1];
  h.pipeline.datasets[short] = { format, model: 'base' };
  const art = h.commitDir(name, 'dataset', dir, JSON.stringify(train) + JSON.stringify(valid));
  rmSync(dir, { recursive: true, force: true });
  return art;
}
