// `initModel` with dtype F8_E4M3 writes the hub's FP8 layout (projections float8_e4m3fn with a weight_scale_inv per
// 128 x 128 block, quantization_config, the rest bf16): every FP8 weight decodes to the F32 init of the same seed
// within e4m3's rounding, and the engine loads the checkpoint (fp32 and NF4) and trains on it.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { initModel, type InitModelOptions } from '../../src/engine/init-model.ts';
import { loadModel, train } from '../../src/engine/index.ts';
import { readSafetensors, readSafetensorsHeader } from '../../src/hf/safetensors.ts';
import { hasAddon } from './fixtures.ts';

function e4m3(b: number): number {
  const e = (b >> 3) & 15,
    m = b & 7;
  const x = e === 15 && m === 7 ? Number.NaN : e === 0 ? (m / 8) * 2 ** -6 : (1 + m / 8) * 2 ** (e - 7);
  return b & 0x80 ? -x : x;
}

describe.skipIf(!hasAddon)('init with FP8 (e4m3 + block scales), MiniMax-M2 shape in miniature', () => {
  const root = mkdtempSync(join(tmpdir(), 'peft-init-fp8-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const shape: InitModelOptions = {
    modelType: 'minimax_m2',
    vocabSize: 64,
    hiddenSize: 160,
    intermediateSize: 48,
    numLayers: 1,
    numHeads: 4,
    numKvHeads: 2,
    headDim: 40,
    numExperts: 4,
    expertsPerTok: 2,
    seed: 5,
    initStd: 0.02,
    tokenizer: 'none',
  };

  it('FP8 weights decode to the F32 init within e4m3 rounding; the model loads and trains', async () => {
    const f8 = join(root, 'f8'),
      f32 = join(root, 'f32');
    initModel(f8, { ...shape, dtype: 'F8_E4M3' });
    initModel(f32, { ...shape, dtype: 'F32' });
    const cfg = JSON.parse(readFileSync(join(f8, 'config.json'), 'utf8'));
    expect(cfg.quantization_config).toMatchObject({ quant_method: 'fp8', fmt: 'e4m3', weight_block_size: [128, 128] });
    const file = join(f8, 'model.safetensors');
    const header = readSafetensorsHeader(file);
    const bytes = readFileSync(file);
    const ref = readSafetensors(join(f32, 'model.safetensors')).tensors;
    const byName = new Map(header.tensors.map((t) => [t.name, t]));
    let fp8 = 0,
      worst = 0;
    for (const t of header.tensors) {
      if (t.name.endsWith('_scale_inv')) continue;
      const isLinear = /(proj|w[123])\.weight$/.test(t.name);
      expect(t.dtype, t.name).toBe(isLinear ? 'F8_E4M3' : 'BF16');
      if (!isLinear) continue;
      fp8++;
      const s = byName.get(`${t.name}_scale_inv`)!;
      expect(s.shape).toEqual(t.shape.map((d) => Math.ceil(d / 128))); // 160 columns: two blocks
      const scale = new Float32Array(bytes.buffer.slice(bytes.byteOffset + header.dataStart + s.begin, bytes.byteOffset + header.dataStart + s.end));
      const want = ref.get(t.name)!.data;
      const cols = t.shape[1];
      for (let i = 0; i < want.length; i++) {
        const sc = scale[Math.floor(i / cols / 128) * Math.ceil(cols / 128) + Math.floor((i % cols) / 128)];
        const got = e4m3(bytes[header.dataStart + t.begin + i]) * sc;
        const x = want[i];
        // half a step of a 3-bit mantissa (1/16 relative) plus the double rounding through bf16; subnormals 2^-10
        // of the scale; values past 448 scales (6 standard deviations) clip
        const bound = Math.abs(x) >= 448 * sc ? Math.abs(x) - 448 * sc + 1e-9 : Math.max(Math.abs(x) / 15, 2 ** -10 * sc);
        worst = Math.max(worst, Math.abs(got - x) / bound);
      }
    }
    expect(fp8).toBe(4 + 3 * 4);
    expect(worst).toBeLessThanOrEqual(1);
    for (const quant of ['none', 'nf4'] as const) {
      const m = await loadModel({ dir: f8, quant });
      const s = await m.score([1, 5, 9, 13, 17], []);
      expect(s.logprobs.every(Number.isFinite)).toBe(true);
      if (quant === 'nf4') {
        const adapter = await m.createAdapter({ r: 2, alpha: 4, targets: 'all-linear', seed: 1 });
        const ids = [[1, 5, 9, 13, 17, 21, 25, 29]];
        const res = await train({ model: m, adapter, batches: [{ inputIds: ids, labels: ids }], steps: 2, lr: 1e-2 });
        expect(res.records.every((r) => Number.isFinite(r.loss))).toBe(true);
      }
    }
  });
});
