// The eval gate across a change of the held-out data: it compares the new composition with the previous version on the
// SAME held-out records (scoring the previous version again), and says plainly when it cannot (version collected).
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UpstreamArtifact } from '../../../src/stage.ts';
import { runModelStage } from '../../../stages/model/model-stage.ts';
import { runAdapterStage, type TrainStageConfig } from '../../../stages/adapter/adapter-stage.ts';
import { runCompositionStage, type ComposeConfig } from '../../../stages/composition/composition-stage.ts';
import { runEvalStage, type EvalRow, type EvalStageConfig } from '../../../stages/eval/eval-stage.ts';
import { datasetArtifact, makeHarness, qaRecord, type Harness } from '../../helpers/stage-harness.ts';
import { syntheticQa } from '../../helpers/synthetic-qa.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const MODEL = resolve(here, '..', '..', '..', 'models', 'stories260K');
const ADDON = resolve(here, '..', '..', '..', 'native', 'build', 'Release', 'peft_engine.node');
const skip = !existsSync(ADDON) ? 'native addon not built (npm run build:native)' : '';

const train: TrainStageConfig = {
  base: 'base',
  data: 'qa',
  quant: 'none',
  compute: 'fp32',
  checkpointEvery: 0,
  warmup: 2,
  lora: { r: 4, alpha: 8, dropout: 0 },
  lr: 4e-3,
  maxSteps: 40,
  batchSize: 8,
  seqLen: 64,
} as TrainStageConfig;
const evalConfig = {
  compositions: ['assistant'],
  datasets: ['qa'],
  metrics: ['perplexity'],
  maxExamples: 12,
  gate: { maxPerplexityIncrease: 0.02 },
} as EvalStageConfig;

interface GateOut {
  passed: boolean;
  messages: string[];
  keep: Record<string, string>;
}

describe.skipIf(skip !== '')(`eval gate after a held-out data change${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let h: Harness;
  let model: UpstreamArtifact;
  let task: UpstreamArtifact;
  let oldData: UpstreamArtifact;
  let newData: UpstreamArtifact;
  let v1: UpstreamArtifact; // the composition the previous eval scored
  let previousEval: UpstreamArtifact;

  const metricsOf = (a: UpstreamArtifact) => JSON.parse(readFileSync(join(a.dir, 'metrics.json'), 'utf8')) as { rows: EvalRow[]; gate: GateOut };
  const ppl = (a: UpstreamArtifact, subject: string) => metricsOf(a).rows.find((r) => r.subject === subject && r.dataset === 'qa')!.perplexity!;
  const compose = async (salt: string, weight: number) =>
    (
      await h.build('compositions.assistant', runCompositionStage, { base: 'base', adapters: [{ name: 'task', weight }], description: salt } as ComposeConfig, [
        model,
        task,
      ])
    ).artifact;

  beforeAll(async () => {
    h = makeHarness();
    model = (await h.build('models.base', runModelStage, { path: MODEL }, [])).artifact;
    const items = syntheticQa(180, 7).map((q) => qaRecord(MODEL, q));
    oldData = datasetArtifact(h, 'datasets.qa', 'qa', items.slice(0, 160), items.slice(160));
    // the edited data file: the same training records, held-out questions whose answers the model cannot guess
    const odd = syntheticQa(20, 8).map((q, i) =>
      qaRecord(MODEL, { ...q, answer: `${['purple', 'seven', 'quietly', 'under'][i % 4]} ${q.answer.split(' ')[1]} door` }),
    );
    newData = datasetArtifact(h, 'datasets.qa', 'qa', items.slice(0, 160), odd);
    task = (await h.build('adapters.task', runAdapterStage, train, [model, oldData])).artifact;
    v1 = await compose('v1', 1);
    previousEval = (await h.build('evals.report', runEvalStage, evalConfig, [v1, oldData])).artifact;
  }, 300_000);
  afterAll(() => h?.cleanup());

  it('an unchanged composition on harder held-out data is not a regression: the previous version is scored on the new data', async () => {
    const v2 = await compose('v2', 1); // a new version (new key) with the same adapters: the same model
    const ev = await h.build('evals.report', runEvalStage, evalConfig, [v2, newData], { previous: previousEval });
    // the held-out data did get harder: comparing across the change would have reported a large rise
    expect(ppl(ev.artifact, 'assistant')).toBeGreaterThan(ppl(previousEval, 'assistant') * 1.5);
    const gate = metricsOf(ev.artifact).gate;
    expect(gate.messages.join('\n')).not.toMatch(/above the previous/);
    expect(gate.passed).toBe(true);
    expect(ev.result.keep).toBeUndefined();
  });

  it('a composition that regressed is still caught, against the previous version on the same new data', async () => {
    const worse = await compose('v3', -1.5); // the task adapter reversed: worse than v1 on any qa data
    const ev = await h.build('evals.report', runEvalStage, evalConfig, [worse, newData], { previous: previousEval });
    const gate = metricsOf(ev.artifact).gate;
    expect(gate.passed).toBe(false);
    expect(ev.result.keep).toEqual({ 'compositions.assistant': v1.key });
    expect(gate.messages.join('\n')).toMatch(/datasets\.qa changed since the previous eval/);
  });

  it('says plainly that it cannot compare when the previous version is gone from the store', async () => {
    const v4 = await compose('v4', 1);
    rmSync(v1.dir, { recursive: true, force: true }); // as `peftmake gc` may do
    const ev = await h.build('evals.report', runEvalStage, evalConfig, [v4, newData], { previous: previousEval });
    const gate = metricsOf(ev.artifact).gate;
    expect(gate.messages.join('\n')).toMatch(
      new RegExp(
        `gate: cannot compare compositions\\.assistant with its previous version \\(${v1.key.slice(0, 12)}\\) on qa: datasets\\.qa changed since the previous eval and that version is no longer in the store`,
      ),
    );
    expect(ev.result.keep).toBeUndefined();
  });
});
