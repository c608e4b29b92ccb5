// Shared setup for the export tests: a harness store with stories260K as models.base, the PEFT fixture adapters
// lora-a and lora-b as adapter artifacts (no training), a stack composition (a×1 + b×1, the fixtures' stacked case)
// and a cat merge; plus the skip reasons for the optional peers (transformers via Debian's python3-torch).
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { UpstreamArtifact } from '../../../src/stage.ts';
import type { AdapterMeta } from '../../../stages/shared/adapter-artifact.ts';
import { runModelStage } from '../../../stages/model/model-stage.ts';
import { runCompositionStage, type ComposeConfig } from '../../../stages/composition/composition-stage.ts';
import { makeHarness, type Harness } from '../../helpers/stage-harness.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
export const REPO = resolve(here, '..', '..', '..');
export const SHARED = resolve(REPO, '..', 'shared');
export const FIX = join(SHARED, 'fixtures');
export const MODEL = join(FIX, 'stories260K', 'hf');
export const PEFT_FIX = join(FIX, 'peft-stories260K');
const ADDON = join(REPO, 'native', 'build', 'Release', 'peft_engine.node');

export const fixtureSkip = !existsSync(MODEL) ? '../shared/fixtures is absent' : !existsSync(ADDON) ? 'native addon not built (npm run build:native)' : '';

export const PYTHON_SITE = join(SHARED, 'peers', 'python-site');
/** Why transformers cannot run here ('' when it can): Debian's python3-torch and ../shared/peers/python-site. */
export function transformersSkip(): string {
  if (!existsSync(PYTHON_SITE)) return '../shared/peers/python-site is absent';
  const r = spawnSync('/usr/bin/python3', ['-c', 'import torch, transformers'], { env: { ...process.env, PYTHONPATH: PYTHON_SITE }, encoding: 'utf8' });
  if (r.status !== 0)
    return `transformers does not import with /usr/bin/python3 (apt-get install python3-torch and the python3-* packages ../shared/peers/README.md lists): ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`;
  return '';
}

export function runTransformers(
  modelDir: string,
  spec: { ids: number[]; prompt: number[]; n: number },
): { logits: number[][]; greedy: number[]; dtype_loaded: string } {
  const r = spawnSync('/usr/bin/python3', [join(REPO, 'tests', 'helpers', 'transformers-run.py'), modelDir, JSON.stringify(spec)], {
    env: { ...process.env, PYTHONPATH: PYTHON_SITE },
    encoding: 'utf8',
    maxBuffer: 256 << 20,
  });
  if (r.status !== 0) throw new Error(`transformers-run.py failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

export interface ExportWorld {
  h: Harness;
  model: UpstreamArtifact;
  a: UpstreamArtifact;
  b: UpstreamArtifact;
  stack: UpstreamArtifact;
  cat: UpstreamArtifact;
}

/** A fixture adapter committed as a trained adapter artifact (adapter.json + metrics.json as the train stage writes). */
function fixtureAdapter(h: Harness, model: UpstreamArtifact, name: string, fixture: string): UpstreamArtifact {
  const tmp = mkdtempSync(join(tmpdir(), 'peftmake-export-fix-'));
  for (const f of ['adapter_config.json', 'adapter_model.safetensors']) cpSync(join(PEFT_FIX, fixture, f), join(tmp, f));
  const meta: AdapterMeta = {
    name,
    base: { name: 'base', key: model.key, modelDir: MODEL },
    data: { name: 'stories', key: 'f'.repeat(64), format: 'text' },
    stack: [],
    objective: 'causal-lm',
    params: { r: fixture === 'lora-a' ? 8 : 4, lr: 0.002, maxSteps: 30 },
  };
  writeFileSync(join(tmp, 'adapter.json'), JSON.stringify(meta));
  writeFileSync(join(tmp, 'metrics.json'), JSON.stringify({ train_loss: 1.25, valid_loss: 1.5 }));
  const art = h.commitDir(`adapters.${name}`, 'adapter', tmp, fixture);
  rmSync(tmp, { recursive: true, force: true });
  h.pipeline.adapters[name] = { base: 'base', data: 'stories' };
  return art;
}

export async function exportWorld(): Promise<ExportWorld> {
  const h = makeHarness();
  const model = (await h.build('models.base', runModelStage, { path: MODEL }, [])).artifact;
  const a = fixtureAdapter(h, model, 'a', 'lora-a');
  const b = fixtureAdapter(h, model, 'b', 'lora-b');
  const stack = (
    await h.build('compositions.both', runCompositionStage, { base: 'base', adapters: [{ name: 'a' }, { name: 'b' }] } as ComposeConfig, [model, a, b])
  ).artifact;
  const cat = (
    await h.build(
      'compositions.catted',
      runCompositionStage,
      { base: 'base', adapters: [{ name: 'a' }, { name: 'b', weight: 0.5 }], method: 'cat' } as ComposeConfig,
      [model, a, b],
    )
  ).artifact;
  return { h, model, a, b, stack, cat };
}
