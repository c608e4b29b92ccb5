// The seed recipe (examples/seed-recipe/pipeline.json) validates, and runs end to end through the CLI against a local
// hub server that serves stories260K as HuggingFaceTB/SmolLM2-135M and fixture wikitext / SQuAD parquet as the hub
// datasets, with only step counts and lengths reduced; the second build is offline (no request) and a no-op.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filesFromDir, startHubServer, type HubServer } from '../../helpers/hub-server.ts';
import { writeParquet } from '../dataset/parquet-writer.ts';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const FIX = resolve(ROOT, '..', 'shared', 'fixtures');
const BIN = join(ROOT, 'bin', 'peftmake.js');
const RECIPE = join(ROOT, 'examples', 'seed-recipe', 'pipeline.json');
const skip = !existsSync(join(FIX, 'squad-v1.1'))
  ? '../shared/fixtures is absent'
  : !existsSync(join(ROOT, 'native', 'build', 'Release', 'peft_engine.node'))
    ? 'native addon not built'
    : '';

const SHA_MODEL = '1'.repeat(40);
const SHA_WIKI = '2'.repeat(40);
const SHA_WIKI_CONV = '3'.repeat(40);
const SHA_SQUAD = '4'.repeat(40);

// Asynchronous: the hub server answers from this process's event loop while the CLI runs.
async function run(cwd: string, env: NodeJS.ProcessEnv, ...args: string[]): Promise<string> {
  try {
    return (await promisify(execFile)(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 1 << 26 })).stdout;
  } catch (e) {
    const err = e as { message: string; stdout?: string; stderr?: string };
    throw new Error(`${err.message}\n${err.stdout ?? ''}\n${String(err.stderr ?? '').slice(-3000)}`);
  }
}

it('the seed recipe validates', async () => {
  const out = await run(ROOT, {}, 'validate', '-f', RECIPE);
  expect(out).toMatch(/adapters\.task \(adapter\) <- adapters\.domain, datasets\.squad, models\.base/);
  const recipe = JSON.parse(readFileSync(RECIPE, 'utf8'));
  expect(recipe.models.base).toEqual({ hub: 'HuggingFaceTB/SmolLM2-135M', revision: 'main' });
  expect(recipe.datasets.squad).toMatchObject({ limit: 1000, format: 'qa', source: { hub: 'rajpurkar/squad' } });
  expect(recipe.adapters.domain.quant).toBe('nf4');
  expect(recipe.adapters.task.on).toEqual(['domain']);
});

it('the personas example validates: three chat adapters on one base, one composition each', async () => {
  const out = await run(ROOT, {}, 'validate', '-f', join(ROOT, 'examples', 'personas', 'pipeline.json'));
  for (const n of ['eli5', 'intuitive', 'executive']) expect(out).toContain(`compositions.${n} (composition) <- adapters.${n}, models.base`);
  for (const n of ['eli5', 'intuitive', 'executive']) {
    const lines = readFileSync(join(ROOT, 'examples', 'personas', 'data', `${n}.jsonl`), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(8);
    for (const l of lines) expect(l.messages.map((m: { role: string }) => m.role)).toEqual(['user', 'assistant']);
  }
});

describe.skipIf(skip !== '')(`seed recipe end to end on a local hub${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let server: HubServer;
  let dir: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    const wiki = (f: string, n: number) =>
      readFileSync(join(FIX, 'wikitext-2-raw-v1', f), 'utf8')
        .split('\n')
        .slice(0, n);
    const squad = JSON.parse(readFileSync(join(FIX, 'squad-v1.1', 'dev-v1.1.json'), 'utf8')) as {
      data: { paragraphs: { context: string; qas: { question: string; answers: { text: string }[] }[] }[] }[];
    };
    const rows = squad.data
      .slice(0, 2)
      .flatMap((a) =>
        a.paragraphs.slice(0, 6).flatMap((p) => p.qas.slice(0, 3).map((q) => ({ context: p.context, question: q.question, answers: q.answers[0].text }))),
      );
    const table = (rs: typeof rows) =>
      writeParquet(['context', 'question', 'answers'].map((k) => ({ name: k, type: 'string' as const, values: rs.map((r) => r[k as keyof typeof r]) })));
    server = await startHubServer({
      'HuggingFaceTB/SmolLM2-135M': { type: 'model', revisions: { main: SHA_MODEL }, files: filesFromDir(join(FIX, 'stories260K', 'hf')) },
      wikitext: {
        type: 'dataset',
        revisions: { main: SHA_WIKI, 'refs/convert/parquet': SHA_WIKI_CONV },
        commits: {
          [SHA_WIKI]: { 'README.md': Buffer.from('# wikitext\n') },
          [SHA_WIKI_CONV]: {
            'wikitext-2-raw-v1/train/0000.parquet': writeParquet([{ name: 'text', type: 'string', values: wiki('wiki.valid.raw', 120) }]),
            'wikitext-2-raw-v1/validation/0000.parquet': writeParquet([{ name: 'text', type: 'string', values: wiki('wiki.test.raw', 40) }]),
          },
        },
      },
      'rajpurkar/squad': {
        type: 'dataset',
        revisions: { main: SHA_SQUAD },
        files: { 'plain_text/train-00000-of-00001.parquet': table(rows), 'plain_text/validation-00000-of-00001.parquet': table(rows.slice(0, 4)) },
      },
    });
    dir = mkdtempSync(join(tmpdir(), 'peftmake-seed-'));
    env = { HF_ENDPOINT: server.url, HF_HOME: join(dir, 'hf-home'), HF_HUB_CACHE: '', HF_TOKEN: '', HF_HUB_OFFLINE: '' };
    // The recipe as written, with only step counts and lengths cut down for the test.
    const p = JSON.parse(readFileSync(RECIPE, 'utf8'));
    p.$schema = join(ROOT, 'schema', 'pipeline.schema.json');
    p.datasets.wikitext.seqLen = 64;
    for (const a of Object.values(p.adapters) as Record<string, unknown>[])
      Object.assign(a, { maxSteps: 3, batchSize: 2, gradAccum: 1, evalEvery: 0, checkpointEvery: 0 });
    p.adapters.domain.seqLen = 64;
    Object.assign(p.evals.report, { maxExamples: 2, maxNewTokens: 3 });
    writeFileSync(join(dir, 'pipeline.json'), JSON.stringify(p, null, 2));
  });
  afterAll(async () => {
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('builds every stage from the hub, then rebuilds offline as a no-op', async () => {
    const first = JSON.parse(await run(dir, env, 'build', '--json')) as { ok: boolean; stages: { name: string; action: string; key: string }[] };
    expect(first.ok).toBe(true);
    expect(first.stages.map((s) => s.action)).toEqual(first.stages.map(() => 'built'));
    const modelKey = first.stages.find((s) => s.name === 'models.base')!.key;
    const manifest = JSON.parse(readFileSync(join(dir, 'artifacts', 'objects', modelKey, 'manifest.json'), 'utf8'));
    expect(manifest.resolved).toMatchObject({ hub: 'HuggingFaceTB/SmolLM2-135M', sha: SHA_MODEL });
    const evalKey = first.stages.find((s) => s.name === 'evals.report')!.key;
    const metrics = JSON.parse(readFileSync(join(dir, 'artifacts', 'objects', evalKey, 'metrics.json'), 'utf8'));
    expect(metrics.rows.map((r: { subject: string; dataset: string }) => `${r.subject}/${r.dataset}`)).toEqual([
      'base/wikitext',
      'base/squad',
      'domain/wikitext',
      'domain/squad',
      'task/wikitext',
      'task/squad',
      'assistant/wikitext',
      'assistant/squad',
    ]);
    server.clearLog();
    const second = JSON.parse(await run(dir, { ...env, HF_HUB_OFFLINE: '1' }, 'build', '--json')) as { ok: boolean; stages: { action: string }[] };
    expect(second.ok).toBe(true);
    expect(second.stages.every((s) => s.action === 'fresh')).toBe(true);
    expect(server.requests).toEqual([]);
  });
});
