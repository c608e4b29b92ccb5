// `peft` and `merged` exports of the PEFT fixture adapters on stories260K: the PEFT directory with tokenizer and model
// card, a stack exported as one adapter per sub-directory; the merged model (sharded fp32, bf16) loads in the engine
// and in transformers and gives the engine's logits with the adapters applied; bad adapters fail cleanly.
import { cpSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type EngineModel } from '../../../src/engine/index.ts';
import { readSafetensorsHeader } from '../../../src/hf/safetensors.ts';
import { runExportStage, type ExportStageConfig } from '../../../stages/export/export-stage.ts';
import { exportWorld, fixtureSkip, MODEL, PEFT_FIX, runTransformers, transformersSkip, type ExportWorld } from './export-fixtures.ts';

const expected = existsSync(PEFT_FIX) ? JSON.parse(readFileSync(join(PEFT_FIX, 'expected.json'), 'utf8')) : undefined;

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe.skipIf(fixtureSkip !== '')(`peft and merged exports${fixtureSkip ? ` (skipped: ${fixtureSkip})` : ''}`, () => {
  let w: ExportWorld;
  let engine: EngineModel;
  let ref: Float32Array; // engine logits of the sequence, base + a + b stacked
  const ids: number[] = expected?.sequence.ids ?? [];
  const run = (name: string, c: ExportStageConfig, up = [w.a, w.b, w.stack, w.cat, w.model]) => w.h.build(`exports.${name}`, runExportStage, c, up);

  beforeAll(async () => {
    w = await exportWorld();
    engine = await loadModel({ dir: MODEL, compute: 'fp32' });
    const a = await engine.loadAdapter(w.a.dir, 'a');
    const b = await engine.loadAdapter(w.b.dir, 'b');
    ref = (await engine.score(ids, [{ adapter: a }, { adapter: b }], { logits: true })).logits!;
  }, 60_000);
  afterAll(() => w?.h.cleanup());

  it('peft: the adapter, the base tokenizer files and a model card', async () => {
    const { result } = await run('a', { adapter: 'a', path: 'out/a', format: 'peft' });
    const dir = join(w.h.root, 'out', 'a');
    expect(readdirSync(dir).sort()).toEqual([
      'README.md',
      'adapter_config.json',
      'adapter_model.safetensors',
      'special_tokens_map.json',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    expect(readFileSync(join(dir, 'adapter_model.safetensors'))).toEqual(readFileSync(join(PEFT_FIX, 'lora-a', 'adapter_model.safetensors')));
    expect(readFileSync(join(dir, 'tokenizer.json'))).toEqual(readFileSync(join(MODEL, 'tokenizer.json')));
    const card = readFileSync(join(dir, 'README.md'), 'utf8');
    expect(card).toMatch(/^---\nlibrary_name: peft\nbase_model: ".*stories260K\/hf"/);
    expect(card).toContain('dataset: `stories`');
    expect(card).toMatch(/\| train_loss \| 1\.25 \|/);
    expect(card).toMatch(/\| lr \| 0\.002 \|/);
    expect(card).toMatch(/Exported by peftmake \d+\.\d+\.\d+ \(engine \d+\.\d+\.\d+\)/);
    expect(card).toContain('PeftModel.from_pretrained(base, "out/a")');
    expect(result.summary).toContain('PEFT');
  });

  it('peft: a stack composition exports each adapter in its own sub-directory', async () => {
    await run('both', { composition: 'both', path: 'out/both', format: 'peft' });
    const dir = join(w.h.root, 'out', 'both');
    expect(readdirSync(join(dir, 'a')).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    expect(readFileSync(join(dir, 'b', 'adapter_model.safetensors'))).toEqual(readFileSync(join(PEFT_FIX, 'lora-b', 'adapter_model.safetensors')));
    expect(existsSync(join(dir, 'tokenizer.json'))).toBe(true);
    expect(readFileSync(join(dir, 'README.md'), 'utf8')).toContain('model.load_adapter("out/both/b", adapter_name="b")');
  });

  it("merged fp32, sharded: loads in the engine with the stacked adapters' logits", async () => {
    const { result } = await run('m32', { composition: 'both', path: 'out/m32', format: 'merged', dtype: 'fp32', maxShardMB: 0.3 });
    const dir = join(w.h.root, 'out', 'm32');
    const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8'));
    const shards = [...new Set(Object.values(index.weight_map))] as string[];
    expect(shards.length).toBeGreaterThan(1);
    expect(result.metrics).toMatchObject({ dtype: 'fp32', shards: shards.length });
    expect(shards[0]).toMatch(/^model-00001-of-0000\d\.safetensors$/);
    for (const s of shards) expect(readSafetensorsHeader(join(dir, s)).tensors.every((t) => t.dtype === 'F32')).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).torch_dtype).toBe('float32');
    expect(JSON.parse(readFileSync(join(dir, 'generation_config.json'), 'utf8'))).toMatchObject({ bos_token_id: 1, eos_token_id: 2 });
    const merged = await loadModel({ dir, compute: 'fp32' });
    const logits = (await merged.score(ids, [], { logits: true })).logits!;
    // W + s·B·A folded in float64 then rounded once vs the engine's W·x + s·B·(A·x) in float32.
    expect(maxAbs(logits, ref)).toBeLessThan(2e-4);
    const last = Array.from(logits.subarray((ids.length - 1) * 512));
    expect(maxAbs(last, expected.cases['lora-a+lora-b'].last_logits)).toBeLessThan(2e-4);
  });

  it('merged bf16: bf16 safetensors, config torch_dtype bfloat16, close to the fp32 logits', async () => {
    await run('m16', { composition: 'catted', path: 'out/m16', format: 'merged' });
    const dir = join(w.h.root, 'out', 'm16');
    expect(readSafetensorsHeader(join(dir, 'model.safetensors')).tensors.every((t) => t.dtype === 'BF16')).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).torch_dtype).toBe('bfloat16');
    const merged = await loadModel({ dir, compute: 'fp32' });
    const last = Array.from((await merged.score(ids, [], { logits: true })).logits!.subarray((ids.length - 1) * 512));
    const err = maxAbs(last, expected.cases['merged-cat'].last_logits);
    expect(err).toBeGreaterThan(0); // bf16 rounding shows
    expect(err).toBeLessThan(0.25);
  });

  const pySkip = fixtureSkip ? fixtureSkip : transformersSkip();
  it.skipIf(pySkip !== '')(
    `merged: transformers loads it and gives the engine's logits and greedy ids${pySkip ? ` (skipped: ${pySkip})` : ''}`,
    async () => {
      const dir = join(w.h.root, 'out', 'm32');
      if (!existsSync(dir)) await run('m32', { composition: 'both', path: 'out/m32', format: 'merged', dtype: 'fp32', maxShardMB: 0.3 });
      const py = runTransformers(dir, { ids, prompt: expected.prompt.ids, n: 40 });
      expect(py.dtype_loaded).toBe('torch.float32');
      expect(maxAbs(py.logits.flat(), ref)).toBeLessThan(2e-4);
      expect(py.greedy).toEqual(expected.cases['lora-a+lora-b'].greedy_ids);
    },
    60_000,
  );

  it('bad input: an adapter whose shapes do not fit the base fails, and the earlier export stays whole', async () => {
    await run('fit', { adapter: 'a', path: 'out/fit', format: 'merged', dtype: 'fp32' });
    const before = readFileSync(join(w.h.root, 'out', 'fit', 'model.safetensors'));
    // Re-commit adapter "a" with lora_B of q_proj cut to the wrong size.
    const { readSafetensors, writeSafetensorsF32 } = await import('../../../src/hf/safetensors.ts');
    const bad = join(w.h.root, 'bad-a');
    cpSync(w.a.dir, bad, { recursive: true });
    const st = readSafetensors(join(bad, 'adapter_model.safetensors'));
    const k = 'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight';
    const t = st.tensors.get(k)!;
    st.tensors.set(k, { shape: [t.shape[0] - 8, t.shape[1]], data: t.data.subarray(0, (t.shape[0] - 8) * t.shape[1]) });
    writeSafetensorsF32(join(bad, 'adapter_model.safetensors'), st.tensors);
    const badArt = w.h.commitDir('adapters.a', 'adapter', bad, 'bad');
    await expect(w.h.build('exports.fit', runExportStage, { adapter: 'a', path: 'out/fit', format: 'merged', dtype: 'fp32' }, [badArt])).rejects.toThrow(
      /module "base_model\.model\.model\.layers\.0\.self_attn\.q_proj": lora_A is \[8, 64\] and lora_B \[56, 8\], but model\.layers\.0\.self_attn\.q_proj\.weight in the base is \[64, 64\]/,
    );
    // A target the base lacks.
    writeFileSync(join(bad, 'adapter_model.safetensors'), readFileSync(join(w.a.dir, 'adapter_model.safetensors')));
    const st2 = readSafetensors(join(bad, 'adapter_model.safetensors'));
    for (const [n, v] of [...st2.tensors]) if (n.includes('layers.4.')) st2.tensors.set(n.replace('layers.4.', 'layers.9.'), v);
    writeSafetensorsF32(join(bad, 'adapter_model.safetensors'), st2.tensors);
    const badArt2 = w.h.commitDir('adapters.a', 'adapter', bad, 'bad2');
    await expect(w.h.build('exports.fit', runExportStage, { adapter: 'a', path: 'out/fit', format: 'gguf' }, [badArt2])).rejects.toThrow(
      /targets model\.layers\.9\.\S+\.weight, which the base model in .* does not have/,
    );
    expect(readdirSync(join(w.h.root, 'out')).filter((f) => f.includes('.tmp-'))).toEqual([]);
    expect(readFileSync(join(w.h.root, 'out', 'fit', 'model.safetensors'))).toEqual(before);
    expect(readdirSync(join(w.h.root, 'out', 'fit')).sort()).toEqual([
      'README.md',
      'config.json',
      'generation_config.json',
      'model.safetensors',
      'special_tokens_map.json',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
  });
});
