// The sparse mixture-of-experts example (examples/moe) end to end through the real CLI: a random-init MiniMax-M2-shaped
// model, a domain and a task adapter (NF4 experts, LoRA on attention and every expert's w1/w2/w3), composed and
// evaluated; the trained adapter has PEFT's names and shapes and loads back; generate runs on the composition.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSafetensors } from '../../../src/hf/safetensors.ts';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const BIN = join(ROOT, 'bin', 'peftmake.js');
const skip = existsSync(join(ROOT, 'native', 'build', 'Release', 'peft_engine.node')) ? '' : 'native addon not built (npm run build:native)';

describe.skipIf(skip !== '')(`MoE example pipeline through the CLI${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let dir: string;
  let out: { ok: boolean; stages: { name: string; action: string; key: string }[] };
  const cli = (...args: string[]) => execFileSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'peftmake-moe-'));
    cpSync(join(ROOT, 'examples', 'moe'), dir, { recursive: true });
    out = JSON.parse(cli('build', '--json'));
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('builds the model, both adapters, the composition and the eval', () => {
    expect(out.ok).toBe(true);
    const names = out.stages.map((s) => s.name).sort();
    expect(names).toEqual(['adapters.domain', 'adapters.task', 'compositions.assistant', 'datasets.docs', 'datasets.qa', 'evals.report', 'models.base']);
    expect(out.stages.every((s) => s.action === 'built')).toBe(true);
    const ev = out.stages.find((s) => s.name === 'evals.report')!;
    const metrics = JSON.parse(readFileSync(join(dir, 'artifacts', 'objects', ev.key, 'metrics.json'), 'utf8'));
    expect(JSON.stringify(metrics)).toMatch(/perplexity/);
  });

  it("the trained adapters carry PEFT's names for attention and every expert, and a config PEFT loads", () => {
    const task = out.stages.find((s) => s.name === 'adapters.task')!;
    const obj = join(dir, 'artifacts', 'objects', task.key);
    const st = join(obj, readdirSync(obj).includes('adapter_model.safetensors') ? '' : 'adapter', 'adapter_model.safetensors');
    const t = readSafetensors(st).tensors;
    expect(t.get('base_model.model.model.layers.1.block_sparse_moe.experts.7.w2.lora_A.weight')!.shape).toEqual([4, 32]);
    expect(t.get('base_model.model.model.layers.1.block_sparse_moe.experts.7.w2.lora_B.weight')!.shape).toEqual([64, 4]);
    expect(t.get('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight')!.shape).toEqual([4, 64]);
    expect(t.size).toBe(2 * 2 * (2 + 8 * 3)); // 2 layers x (q, v + 8 experts x 3) x (A, B)
    const cfg = JSON.parse(readFileSync(join(st, '..', 'adapter_config.json'), 'utf8'));
    expect([...cfg.target_modules].sort()).toEqual(['q_proj', 'v_proj', 'w1', 'w2', 'w3']);
    const dom = out.stages.find((s) => s.name === 'adapters.domain')!;
    const domObj = join(dir, 'artifacts', 'objects', dom.key);
    const dcfg = JSON.parse(readFileSync(join(domObj, readdirSync(domObj).includes('adapter_config.json') ? '' : 'adapter', 'adapter_config.json'), 'utf8'));
    expect([...dcfg.target_modules].sort()).toEqual(['k_proj', 'o_proj', 'q_proj', 'v_proj', 'w1', 'w2', 'w3']);
  });

  it('generate runs on the composition (batched decoder with MoE layers)', () => {
    const g = JSON.parse(cli('generate', '--composition', 'assistant', '--prompt', 'Where did Ben go?', '--max-tokens', '5', '--json'));
    expect(g.tokens).toHaveLength(5);
  });
});

it('the MiniMax-M2 DAPT + SQuAD recipe (examples/minimax-m2-dapt) validates and plans: task adapter on the domain adapter', () => {
  const file = join(ROOT, 'examples', 'minimax-m2-dapt', 'pipeline.json');
  const out = execFileSync(process.execPath, [BIN, 'validate', '-f', file], { encoding: 'utf8' });
  expect(out).toMatch(/adapters\.task \(adapter\) <- adapters\.domain, datasets\.squad, models\.base/);
  expect(out).toMatch(/evals\.report \(eval\) <- compositions\.assistant, datasets\.squad/);
  const recipe = JSON.parse(readFileSync(file, 'utf8'));
  expect(recipe.models.base).toEqual({ hub: 'MiniMaxAI/MiniMax-M2', revision: 'main' });
  expect(recipe.adapters.domain.lora.targets).toBe('all-linear');
  expect(recipe.adapters.task.lora.targets).toEqual(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'w1', 'w2', 'w3']);
  expect(recipe.adapters.task.on).toEqual(['domain']);
});
