// `onnx` exports on stories260K run in onnxruntime-node: the decoder graph (KV cache, GQA, RoPE) gives the engine's
// greedy ids for the base, one adapter and the stacked composition, logits within 1e-4 of the engine's (fp32),
// the fp16 graph's error measured and bounded; the file is a valid ONNX model in the transformers.js layout.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type EngineAdapter, type EngineModel } from '../../../src/engine/index.ts';
import { runExportStage, type ExportStageConfig } from '../../../stages/export/export-stage.ts';
import { readBaseWeights } from '../../../stages/shared/base-weights.ts';
import { llamaHparams } from '../../../stages/export/llama-hparams.ts';
import { decodeOnnx } from '../../../stages/export/onnx/onnx-graph.ts';
import { buildLlamaDecoder, OPSET } from '../../../stages/export/onnx/onnx-llama.ts';
import { loadOnnxDecoder, onnxGreedy, onnxLogits } from '../../../src/onnx/onnx-session.ts';
import { exportWorld, fixtureSkip, MODEL, REPO, type ExportWorld } from './export-fixtures.ts';

const N = 32;
const prompt = [1, 403, 407, 261, 378];
const seq = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338];

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe.skipIf(fixtureSkip !== '')(`onnx exports${fixtureSkip ? ` (skipped: ${fixtureSkip})` : ''}`, () => {
  let w: ExportWorld;
  let engine: EngineModel;
  let a: EngineAdapter;
  let b: EngineAdapter;
  const tmp = mkdtempSync(join(tmpdir(), 'peftmake-onnx-'));
  const run = (name: string, c: ExportStageConfig) => w.h.build(`exports.${name}`, runExportStage, c, [w.a, w.b, w.stack, w.model]);

  beforeAll(async () => {
    w = await exportWorld();
    engine = await loadModel({ dir: MODEL, compute: 'fp32' });
    a = await engine.loadAdapter(w.a.dir, 'a');
    b = await engine.loadAdapter(w.b.dir, 'b');
  }, 60_000);
  afterAll(() => {
    w?.h.cleanup();
    rmSync(tmp, { recursive: true, force: true });
  });

  it("base graph: onnxruntime gives the engine's logits (fp32, < 1e-4) and greedy ids with the KV cache", async () => {
    const h = llamaHparams(JSON.parse(readFileSync(join(MODEL, 'config.json'), 'utf8')), 'config.json');
    const file = join(tmp, 'base', 'onnx', 'model.onnx');
    rmSync(join(tmp, 'base'), { recursive: true, force: true });
    const { mkdirSync, copyFileSync } = await import('node:fs');
    mkdirSync(join(tmp, 'base', 'onnx'), { recursive: true });
    copyFileSync(join(MODEL, 'config.json'), join(tmp, 'base', 'config.json'));
    writeFileSync(file, buildLlamaDecoder(h, readBaseWeights(MODEL).tensors, 'float32').encode({ producer: 'test', version: '0', doc: '', props: {} }, OPSET));
    const d = await loadOnnxDecoder(join(tmp, 'base'), { threads: 1 });
    const ref = (await engine.score(seq, [], { logits: true })).logits!;
    expect(maxAbs(await onnxLogits(d, seq), ref)).toBeLessThan(1e-4);
    expect(await onnxGreedy(d, prompt, N, [])).toEqual(await engine.generate(prompt, { maxTokens: N, temperature: 0, eos: [] }));
  });

  it("one adapter and the stacked composition, fp32: the engine's greedy ids and logits; the files as transformers.js reads them", async () => {
    await run('a', { adapter: 'a', path: 'out/a', format: 'onnx' });
    await run('both', { composition: 'both', path: 'out/both', format: 'onnx', dtype: 'fp32' });
    const dir = join(w.h.root, 'out', 'both');
    expect(readdirSync(dir).sort()).toEqual([
      'README.md',
      'config.json',
      'generation_config.json',
      'onnx',
      'special_tokens_map.json',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    const m = decodeOnnx(readFileSync(join(dir, 'onnx', 'model.onnx')));
    expect(m.graph!.input!.map((i) => i.name).slice(0, 5)).toEqual([
      'input_ids',
      'attention_mask',
      'position_ids',
      'past_key_values.0.key',
      'past_key_values.0.value',
    ]);
    expect(m.graph!.output!.map((o) => o.name)).toEqual([...Array.from({ length: 5 }, (_, l) => [`present.${l}.key`, `present.${l}.value`]).flat(), 'logits']);
    expect(Number(m.opsetImport![0].version)).toBe(OPSET);
    for (const [name, adapters] of [
      ['a', [{ adapter: a }]],
      ['both', [{ adapter: a }, { adapter: b }]],
    ] as const) {
      const d = await loadOnnxDecoder(join(w.h.root, 'out', name), { threads: 1 });
      const ref = (await engine.score(seq, [...adapters], { logits: true })).logits!;
      expect(maxAbs(await onnxLogits(d, seq), ref)).toBeLessThan(1e-4);
      expect(await onnxGreedy(d, prompt, N, [])).toEqual(await engine.generate(prompt, { maxTokens: N, temperature: 0, eos: [] }, [...adapters]));
    }
  });

  it("peftmake generate --runtime onnx runs the export through onnxruntime-node (text prompt, the export's tokenizer)", async () => {
    const { execa } = await import('execa');
    const dir = join(w.h.root, 'out', 'both');
    if (!existsSync(dir)) await run('both', { composition: 'both', path: 'out/both', format: 'onnx', dtype: 'fp32' });
    const r = await execa(
      'node',
      [join(REPO, 'bin', 'peftmake.js'), 'generate', '--runtime', 'onnx', '--model', dir, '--prompt', 'Once upon a time', '--max-tokens', '12', '--json'],
      { reject: false },
    );
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const out = JSON.parse(String(r.stdout));
    expect(out.prompt_tokens).toEqual(prompt);
    expect(out.tokens).toEqual(await engine.generate(prompt, { maxTokens: 12, temperature: 0 }, [{ adapter: a }, { adapter: b }]));
    expect(out.text).toMatch(/^, there was/);
    const bad = await execa('node', [join(REPO, 'bin', 'peftmake.js'), 'generate', '--runtime', 'onnx', '--model', MODEL, '--prompt-ids', '1,2'], {
      reject: false,
    });
    expect(bad.exitCode).not.toBe(0);
    expect(String(bad.stderr)).toMatch(/no onnx\/model\.onnx or onnx\/model_fp16\.onnx \(not an ONNX export\)/);
  }, 60_000);

  it('fp16: model_fp16.onnx with half KV cache; logits error measured against the engine (fp32)', async () => {
    await run('both16', { composition: 'both', path: 'out/both16', format: 'onnx', dtype: 'fp16' });
    const d = await loadOnnxDecoder(join(w.h.root, 'out', 'both16'), { threads: 1 });
    expect(d.elem).toBe('float16');
    const ref = (await engine.score(seq, [{ adapter: a }, { adapter: b }], { logits: true })).logits!;
    const err = maxAbs(await onnxLogits(d, seq), ref);
    console.log(`onnx fp16 vs engine fp32: max |logit diff| = ${err.toExponential(3)} over ${seq.length} positions`);
    expect(err).toBeGreaterThan(0);
    expect(err).toBeLessThan(0.05);
  });

  it('bad input: bf16 is not an ONNX dtype here; nothing is written', async () => {
    await expect(run('bad', { composition: 'both', path: 'out/bad', format: 'onnx', dtype: 'bf16' })).rejects.toThrow(
      /ONNX exports are fp32 or fp16, not bf16/,
    );
    expect(existsSync(join(w.h.root, 'out', 'bad'))).toBe(false);
    expect(readdirSync(join(w.h.root, 'out')).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });
});
