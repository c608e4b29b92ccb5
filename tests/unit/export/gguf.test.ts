// `gguf` exports on stories260K: base.gguf + one LoRA GGUF per adapter + merged.gguf, read back (metadata, ggml
// dims, q/k rows permuted to ggml's RoPE layout, Q8_0 / Q4_0 blocks), and run in llama.cpp through node-llama-cpp:
// greedy ids equal the engine's at F16 for the base, one adapter and the stacked composition; the adapters off give
// the base's ids; a type or an architecture the model cannot take is a clear error and writes nothing.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type EngineModel } from '../../../src/engine/index.ts';
import { readSafetensors } from '../../../src/hf/safetensors.ts';
import { runExportStage, type ExportStageConfig } from '../../../stages/export/export-stage.ts';
import { GgmlType, readGguf } from '../../../stages/export/gguf/gguf-file.ts';
import { decodeGgml, encodeGgml } from '../../../stages/export/gguf/gguf-quant.ts';
import { llamaHparams, permuteRows } from '../../../stages/export/gguf/gguf-llama.ts';
import { llamaCppGreedy, llamaCppSkip } from '../../helpers/llama-cpp.ts';
import { exportWorld, fixtureSkip, MODEL, PEFT_FIX, type ExportWorld } from './export-fixtures.ts';

const N = 40;

describe.skipIf(fixtureSkip !== '')(`gguf exports${fixtureSkip ? ` (skipped: ${fixtureSkip})` : ''}`, () => {
  let w: ExportWorld;
  let engine: EngineModel;
  const prompt = [1, 403, 407, 261, 378];
  const greedy: Record<string, number[]> = {};
  const run = (name: string, c: ExportStageConfig, up = [w.a, w.b, w.stack, w.cat, w.model]) => w.h.build(`exports.${name}`, runExportStage, c, up);
  const out = (...p: string[]) => join(w.h.root, 'out', ...p);

  beforeAll(async () => {
    w = await exportWorld();
    engine = await loadModel({ dir: MODEL, compute: 'fp32' });
    const a = await engine.loadAdapter(w.a.dir, 'a');
    const b = await engine.loadAdapter(w.b.dir, 'b');
    greedy.base = await engine.generate(prompt, { maxTokens: N, temperature: 0 });
    greedy.a = await engine.generate(prompt, { maxTokens: N, temperature: 0 }, [{ adapter: a }]);
    greedy.ab = await engine.generate(prompt, { maxTokens: N, temperature: 0 }, [{ adapter: a }, { adapter: b }]);
    await run('both', { composition: 'both', path: 'out/both', format: 'gguf', type: 'F16' });
  }, 60_000);
  afterAll(() => w?.h.cleanup());

  it('writes base, one LoRA per adapter and merged, with llama metadata, tokenizer and ggml dims', () => {
    expect(readdirSync(out('both')).sort()).toEqual(['README.md', 'a.lora.gguf', 'b.lora.gguf', 'base.gguf', 'merged.gguf']);
    const g = readGguf(out('both', 'base.gguf'));
    expect(g.version).toBe(3);
    const m = g.metadata;
    expect(m.get('general.architecture')).toBe('llama');
    expect([
      m.get('llama.block_count'),
      m.get('llama.embedding_length'),
      m.get('llama.feed_forward_length'),
      m.get('llama.attention.head_count'),
      m.get('llama.attention.head_count_kv'),
    ]).toEqual([5, 64, 172, 8, 4]);
    expect(m.get('tokenizer.ggml.model')).toBe('llama');
    expect((m.get('tokenizer.ggml.tokens') as string[]).slice(0, 4)).toEqual(['<unk>', '<s>', '</s>', '<0x00>']);
    expect((m.get('tokenizer.ggml.token_type') as number[]).slice(0, 4)).toEqual([2, 3, 3, 6]);
    expect(m.get('tokenizer.ggml.bos_token_id')).toBe(1);
    expect(g.tensors.find((t) => t.name === 'output.weight')).toBeUndefined(); // tied: llama.cpp reuses token_embd
    const norm = g.tensors.find((t) => t.name === 'blk.0.attn_norm.weight')!;
    expect([norm.ne, norm.type]).toEqual([[64], GgmlType.F32]);
    const q = g.tensors.find((t) => t.name === 'blk.0.attn_q.weight')!;
    expect([q.ne, q.type]).toEqual([[64, 64], GgmlType.F16]);
    const hf = readSafetensors(join(MODEL, 'model.safetensors')).tensors.get('model.layers.0.self_attn.q_proj.weight')!;
    const want = encodeGgml(permuteRows(hf.data, 64, 64, 8), GgmlType.F16);
    expect(Buffer.from(q.data).equals(Buffer.from(want))).toBe(true);
    const lora = readGguf(out('both', 'b.lora.gguf'));
    expect(lora.metadata.get('general.type')).toBe('adapter');
    expect(lora.metadata.get('adapter.type')).toBe('lora');
    expect(lora.metadata.get('adapter.lora.alpha')).toBe(8); // lora-b: r 4, alpha 8, weight 1
    expect(lora.tensors.map((t) => t.name).sort()).toContain('blk.0.attn_q.weight.lora_a');
    const la = lora.tensors.find((t) => t.name === 'blk.0.attn_q.weight.lora_a')!;
    const lb = lora.tensors.find((t) => t.name === 'blk.0.attn_q.weight.lora_b')!;
    expect([la.ne, lb.ne]).toEqual([
      [64, 4],
      [4, 64],
    ]);
  });

  it('Q8_0 and Q4_0 blocks round-trip within their step; permuteRows is a permutation', () => {
    const x = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i * 1.7) * (i % 5));
    for (const [t, step] of [
      [GgmlType.Q8_0, 1 / 127],
      [GgmlType.Q4_0, 1 / 8],
    ] as const) {
      const y = decodeGgml(encodeGgml(x, t), t, 64);
      for (let blk = 0; blk < 2; blk++) {
        const amax = Math.max(...x.subarray(blk * 32, blk * 32 + 32).map(Math.abs));
        for (let j = 0; j < 32; j++) expect(Math.abs(y[blk * 32 + j] - x[blk * 32 + j])).toBeLessThanOrEqual(amax * step * 0.5 + 1e-3 * amax);
      }
    }
    const rows = Float32Array.from({ length: 16 }, (_, i) => i);
    expect(Array.from(permuteRows(rows, 16, 1, 2))).toEqual([0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15]);
  });

  const llSkip = llamaCppSkip();
  it.skipIf(llSkip !== '')(
    `llama.cpp (node-llama-cpp) at F16 gives the engine's greedy ids: base, one adapter, the stack, adapters off, merged${llSkip ? ` (skipped: ${llSkip})` : ''}`,
    async () => {
      const expected = JSON.parse(readFileSync(join(PEFT_FIX, 'expected.json'), 'utf8'));
      expect(greedy.base).toEqual(expected.cases.base.greedy_ids);
      expect(greedy.ab).toEqual(expected.cases['lora-a+lora-b'].greedy_ids);
      const base = out('both', 'base.gguf');
      expect(await llamaCppGreedy(base, [], prompt, N)).toEqual(greedy.base);
      expect(await llamaCppGreedy(base, [out('both', 'a.lora.gguf')], prompt, N)).toEqual(greedy.a);
      expect(await llamaCppGreedy(base, [out('both', 'a.lora.gguf'), out('both', 'b.lora.gguf')], prompt, N)).toEqual(greedy.ab);
      expect(await llamaCppGreedy(out('both', 'merged.gguf'), [], prompt, N)).toEqual(greedy.ab);
    },
    120_000,
  );

  it("bad input: a model llama.cpp's llama architecture cannot take, a type its rows cannot take; nothing written", async () => {
    expect(() => llamaHparams({ model_type: 'gpt2', n_embd: 64 }, 'config.json')).toThrow(/model_type "gpt2" cannot be written as GGUF or ONNX/);
    expect(() =>
      llamaHparams(
        {
          model_type: 'llama',
          hidden_size: 64,
          num_attention_heads: 4,
          intermediate_size: 8,
          num_hidden_layers: 1,
          vocab_size: 8,
          rope_scaling: { type: 'dynamic', factor: 2 },
        },
        'config.json',
      ),
    ).toThrow(/rope_scaling: type "dynamic"/);
    expect(existsSync(out('both'))).toBe(true);
  });
});
