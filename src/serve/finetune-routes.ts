// The fine-tuning routes, a thin layer over the real pipeline: POST /fine-tuning/setup writes uploaded documents into
// a dataset's source directory (names checked against its glob, never outside the project, nothing executed) and
// starts a normal build (same executor, keys, versions, lock); GET /fine-tuning/status reports that build (stage,
// step, loss, ETA, error) and every composition's trained / served version; POST /fine-tuning/query answers {query}
// with a composition. One build at a time: a second setup gets 409 with the running build's state.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync, renameSync } from 'node:fs';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { loadPipeline } from '../config/load.ts';
import { build } from '../exec/build.ts';
import type { Reporter, StageOutcome } from '../exec/reporter.ts';
import { globToRegExp } from '../util/glob.ts';
import type { Toolchain } from '../stage.ts';
import { badRequest, HttpError, notFound, toHttpError } from './errors.ts';
import { generate } from './generation.ts';
import { readBody, readJson, sendJson, type RequestContext, type Router } from './http.ts';
import { maxTokensFor, promptIds } from './openai-routes.ts';
import type { ModelRegistry } from './registry.ts';
import type { ServeMetrics } from './metrics.ts';
import type { InferenceTimeline } from './timeline.ts';

export interface FineTuningOptions {
  dataset?: string; // the dataset setup writes into when the request names none
  composition?: string; // the composition query answers with when the request names none
  pipelineFile?: string; // default <project>/pipeline.json
}

interface Deps extends FineTuningOptions {
  registry: ModelRegistry;
  metrics: ServeMetrics;
  bodyLimit: number;
  projectDir: string;
  toolchain: Toolchain;
  log: (line: string) => void;
  timeline?: InferenceTimeline;
}

interface BuildState {
  id: number;
  state: 'running' | 'succeeded' | 'failed';
  dataset: string;
  files: string[];
  started_at: string;
  finished_at: string | null;
  stage: string | null;
  step: number | null;
  total: number | null;
  loss: number | null;
  eta_s: number | null;
  error: string | null;
  stages: { name: string; action: string; version: number | null; seconds: number; error?: string }[];
}

export function addFineTuningRoutes(router: Router, d: Deps): { close(): void } {
  let current: BuildState | undefined;
  let builds = 0;
  const abort = new AbortController();
  const pipelineFile = d.pipelineFile ?? join(d.projectDir, 'pipeline.json');

  router.add('POST', '/fine-tuning/setup', async (ctx) => {
    if (current?.state === 'running')
      throw new HttpError(
        409,
        `a fine-tuning build is already running (stage ${current.stage ?? 'starting'}); wait for it (GET /fine-tuning/status)`,
        'conflict_error',
        null,
        'build_running',
        {},
        { build: current },
      );
    const { dataset, docs } = await readDocuments(ctx, d);
    const pipeline = loadPipeline(pipelineFile, { cwd: d.projectDir, kinds: d.toolchain.kinds });
    const name = dataset ?? d.dataset ?? onlyDataset(pipeline.config);
    const entry = pipeline.stages.get(`datasets.${name}`);
    if (!entry) throw badRequest(`pipeline.json has no dataset "${name}"`, 'dataset');
    const files = writeDocuments(pipeline.projectDir, name, entry.config, docs);
    const st: BuildState = {
      id: ++builds,
      state: 'running',
      dataset: name,
      files,
      started_at: new Date().toISOString(),
      finished_at: null,
      stage: null,
      step: null,
      total: null,
      loss: null,
      eta_s: null,
      error: null,
      stages: [],
    };
    current = st;
    d.log(`${st.started_at} fine-tuning: ${files.length} document(s) written for dataset ${name}; build #${st.id} started`);
    void runBuild(st, pipelineFile, d, abort.signal);
    sendJson(ctx.res, 202, { build: st });
  });

  router.add('GET', '/fine-tuning/status', (ctx) => {
    const models = d.registry
      .list()
      .filter((m) => m.kind === 'composition')
      .map((m) => ({ name: m.name, trained: true, served: true, version: m.version, key: m.key, created: m.created }));
    let pipelineCompositions: string[] = [];
    try {
      pipelineCompositions = Object.keys((loadPipeline(pipelineFile, { cwd: d.projectDir, kinds: d.toolchain.kinds }).config.compositions as object) ?? {});
    } catch {
      // an unreadable pipeline.json: report what the store serves
    }
    for (const c of pipelineCompositions)
      if (!models.some((m) => m.name === c)) models.push({ name: c, trained: false, served: false, version: 0, key: '', created: 0 });
    sendJson(ctx.res, 200, { build: current ?? null, compositions: models });
  });

  router.add('POST', '/fine-tuning/query', async (ctx) => {
    const body = await readJson(ctx, d.bodyLimit);
    if (typeof body.query !== 'string' || body.query === '') throw badRequest("'query' must be a non-empty string", 'query', 'invalid_type');
    const maxTokens = body.max_tokens === undefined ? 64 : body.max_tokens;
    if (!Number.isInteger(maxTokens) || (maxTokens as number) < 1) throw badRequest("'max_tokens' must be an integer >= 1", 'max_tokens', 'invalid_type');
    const name = typeof body.model === 'string' ? body.model : (d.composition ?? onlyComposition(d.registry));
    const model = d.registry.resolve(name);
    ctx.log.model = model.id;
    const rt = await d.registry.runtime(model);
    const prompt = promptIds(rt, model, { messages: [{ role: 'user', content: body.query }] });
    const n = maxTokensFor(rt, prompt.length, maxTokens as number, 64);
    const t0 = performance.now();
    const [c] = await generate(
      rt,
      prompt,
      { maxTokens: n, temperature: 0, topP: 1, topK: 0, seed: 0, n: 1, stop: [], stream: false, includeUsage: false, ignoreEos: false },
      { signal: ctx.signal },
    );
    ctx.log.tokensIn = prompt.length;
    ctx.log.tokensOut = c.tokens.length;
    d.metrics.modelRequests.inc({ model: model.name });
    d.timeline?.record(model.name, { seconds: (performance.now() - t0) / 1000, tokensIn: prompt.length, tokensOut: c.tokens.length });
    sendJson(ctx.res, 200, {
      answer: c.text.trim(),
      model: model.name,
      version: model.version,
      key: model.key,
      finish_reason: c.finish,
      usage: { prompt_tokens: prompt.length, completion_tokens: c.tokens.length },
      latency_ms: Math.round(performance.now() - t0),
    });
  });

  return { close: () => abort.abort() };
}

async function runBuild(st: BuildState, file: string, d: Deps, signal: AbortSignal): Promise<void> {
  let stageStart = performance.now();
  const reporter: Reporter = {
    stageStart(name) {
      st.stage = name;
      st.step = st.total = st.loss = st.eta_s = null;
      stageStart = performance.now();
    },
    progress(name, p) {
      st.stage = name;
      if (p.step !== undefined) st.step = p.step;
      if (p.total !== undefined) st.total = p.total;
      const loss = p.metrics?.loss;
      if (typeof loss === 'number') st.loss = loss;
      if (st.step && st.total) st.eta_s = Math.round((((performance.now() - stageStart) / 1000) * (st.total - st.step)) / st.step);
    },
    log() {},
    stageEnd(o: StageOutcome) {
      st.stages.push({ name: o.name, action: o.action, version: o.version, seconds: o.seconds, ...(o.error ? { error: o.error } : {}) });
      if (o.error) st.error = `${o.name}: ${o.error}`;
    },
  };
  try {
    const report = await build({ file, cwd: d.projectDir, toolchain: d.toolchain, signal, reporter });
    st.state = report.ok ? 'succeeded' : 'failed';
    if (!report.ok && !st.error) st.error = report.stages.find((s) => s.error)?.error ?? 'the build failed';
  } catch (err) {
    st.state = 'failed';
    st.error = toHttpError(err).message;
  }
  st.stage = null;
  st.eta_s = null;
  st.finished_at = new Date().toISOString();
  d.log(`${st.finished_at} fine-tuning: build #${st.id} ${st.state}${st.error ? `: ${st.error}` : ''}`);
}

interface Doc {
  name?: string;
  text: string;
}

/** JSON {"documents": [text | {name, text}], "dataset"?} or multipart/form-data with files (and a `dataset` field). */
async function readDocuments(ctx: RequestContext, d: Deps): Promise<{ dataset?: string; docs: Doc[] }> {
  const type = ctx.req.headers['content-type'] ?? '';
  let dataset: string | undefined;
  let docs: Doc[] = [];
  if (type.startsWith('multipart/form-data')) {
    const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(type);
    if (!boundary) throw badRequest('multipart/form-data needs a boundary', null, 'invalid_multipart');
    for (const part of parseMultipart(await readBody(ctx.req, d.bodyLimit), boundary[1] ?? boundary[2])) {
      if (part.filename !== undefined) docs.push({ name: part.filename, text: part.data.toString('utf8') });
      else if (part.name === 'dataset') dataset = part.data.toString('utf8').trim();
    }
  } else {
    const body = await readJson(ctx, d.bodyLimit);
    if (body.dataset !== undefined && typeof body.dataset !== 'string') throw badRequest("'dataset' must be a string", 'dataset', 'invalid_type');
    dataset = body.dataset as string | undefined;
    if (!Array.isArray(body.documents)) throw badRequest("'documents' must be an array of texts or {name, text} objects", 'documents', 'invalid_type');
    docs = body.documents.map((x, i) => {
      if (typeof x === 'string') return { text: x };
      if (x && typeof x === 'object' && typeof (x as Doc).text === 'string' && ((x as Doc).name === undefined || typeof (x as Doc).name === 'string'))
        return x as Doc;
      throw badRequest(`'documents[${i}]' must be a string or {name, text}`, `documents[${i}]`, 'invalid_type');
    });
  }
  if (docs.length === 0) throw badRequest('no documents given', 'documents', 'missing_field');
  if (docs.some((x) => x.text.trim() === '')) throw badRequest('a document is empty', 'documents');
  return { dataset, docs };
}

/** Writes the documents beside the dataset's source glob (atomically; same content, same file). Returns project-relative paths. */
function writeDocuments(projectDir: string, dataset: string, config: Readonly<Record<string, unknown>>, docs: Doc[]): string[] {
  const files = (config.source as { files?: string[] } | undefined)?.files;
  const pattern = files?.find((f) => /[*?[]/.test(f.split('/').pop() ?? ''));
  if (!pattern)
    throw badRequest(
      `dataset "${dataset}" does not read a directory by glob (its source is ${JSON.stringify(config.source)}); setup needs one such as "data/docs/*.md"`,
      'dataset',
    );
  const dir = dirname(pattern);
  if (/[*?[{]/.test(dir))
    throw badRequest(`dataset "${dataset}": the glob ${pattern} has wildcards in its directory; setup needs a fixed directory`, 'dataset');
  const re = globToRegExp(pattern);
  const tail = pattern.split('/').pop()!;
  const ext = /\.([A-Za-z0-9]+)$/.exec(tail)?.[0] ?? '.txt';
  const root = resolve(projectDir);
  const out: string[] = [];
  for (const doc of docs) {
    const hash = createHash('sha256').update(doc.text).digest('hex').slice(0, 16);
    // a client's file name keeps only its safe base name; anything else becomes the content hash
    const given =
      doc.name
        ?.split(/[\\/]/)
        .pop()
        ?.replace(/[^A-Za-z0-9._-]/g, '_')
        .replace(/^\.+/, '') ?? '';
    let base = given && extname(given) === ext ? given : `upload-${hash}${ext}`;
    let rel = `${dir}/${base}`;
    if (!re.test(rel)) {
      base = `upload-${hash}${ext}`;
      rel = `${dir}/${base}`;
    }
    const abs = resolve(root, rel);
    if (!abs.startsWith(root + sep) || !re.test(relative(root, abs).split(sep).join('/')))
      throw badRequest(`document "${doc.name ?? hash}" would be written outside the dataset's source (${pattern})`, 'documents');
    mkdirSync(dirname(abs), { recursive: true });
    const tmp = `${abs}.tmp-${process.pid}`;
    writeFileSync(tmp, doc.text.endsWith('\n') ? doc.text : `${doc.text}\n`);
    renameSync(tmp, abs);
    out.push(rel);
  }
  return out;
}

function onlyDataset(config: Readonly<Record<string, unknown>>): string {
  const names = Object.keys((config.datasets as object) ?? {});
  if (names.length === 1) return names[0];
  throw badRequest(
    `name the dataset to write into ('dataset': one of ${names.join(', ') || 'none'}), or start serve with --finetune-dataset`,
    'dataset',
    'missing_field',
  );
}

function onlyComposition(registry: ModelRegistry): string {
  const names = registry
    .list()
    .filter((m) => m.kind === 'composition')
    .map((m) => m.name);
  if (names.length === 1) return names[0];
  if (names.length === 0) throw notFound('no composition is built yet (POST /fine-tuning/setup, then wait for GET /fine-tuning/status to say trained)');
  throw badRequest(`name the composition to ask ('model': one of ${names.join(', ')}), or start serve with --finetune-composition`, 'model', 'missing_field');
}

/** Parts of a multipart/form-data body: name, filename (for files) and the raw bytes. */
export function parseMultipart(body: Buffer, boundary: string): { name?: string; filename?: string; data: Buffer }[] {
  const delim = Buffer.from(`--${boundary}`);
  const parts: { name?: string; filename?: string; data: Buffer }[] = [];
  let pos = body.indexOf(delim);
  if (pos < 0) throw badRequest('multipart body without its boundary', null, 'invalid_multipart');
  while (true) {
    pos += delim.length;
    if (body.subarray(pos, pos + 2).toString() === '--') break;
    const headEnd = body.indexOf('\r\n\r\n', pos);
    if (headEnd < 0) throw badRequest('multipart part without headers', null, 'invalid_multipart');
    const head = body.subarray(pos, headEnd).toString('utf8');
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delim]), headEnd + 4);
    if (next < 0) throw badRequest('multipart part without a closing boundary', null, 'invalid_multipart');
    const disp = /content-disposition:[^\r\n]*/i.exec(head)?.[0] ?? '';
    const name = /\bname="([^"]*)"/i.exec(disp)?.[1];
    const filename = /\bfilename="([^"]*)"/i.exec(disp)?.[1];
    parts.push({ name, filename, data: body.subarray(headEnd + 4, next) });
    pos = next + 2;
  }
  return parts;
}
