// Loading a bf16 checkpoint with NF4 storage quantises each projection straight from the mapped bf16 weights (no fp32
// copy of the tensor): the model must be bit-identical to one loaded from the same weights widened to an F32 file.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { initModel } from '../../src/engine/init-model.ts';
import { loadModel } from '../../src/engine/index.ts';
import { readSafetensors, writeSafetensorsF32 } from '../../src/hf/safetensors.ts';
import { skipReason } from './fixtures.ts';

describe.skipIf(skipReason !== '')('bf16 checkpoint -> NF4' + (skipReason ? ` (skipped: ${skipReason})` : ''), () => {
  const tmp = mkdtempSync(join(tmpdir(), 'peft-bf16-nf4-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  for (const modelType of ['llama', 'mixtral'] as const)
    it(`${modelType}: the logits equal those of the F32 widening of the same weights, bit for bit`, async () => {
      const bf16 = join(tmp, `${modelType}-bf16`),
        f32 = join(tmp, `${modelType}-f32`);
      const shape = { modelType, vocabSize: 320, hiddenSize: 128, intermediateSize: 192, numLayers: 2, numHeads: 4, numKvHeads: 2, numExperts: 4 };
      initModel(bf16, { ...shape, dtype: 'BF16', tokenizer: 'none', seed: 3 });
      mkdirSync(f32);
      copyFileSync(join(bf16, 'config.json'), join(f32, 'config.json'));
      writeSafetensorsF32(join(f32, 'model.safetensors'), readSafetensors(join(bf16, 'model.safetensors')).tensors);
      const ids = [1, 17, 250, 3, 99, 42, 7, 300];
      const logits = async (dir: string) => (await (await loadModel({ dir, quant: 'nf4', compute: 'fp32' })).score(ids, [], { logits: true })).logits!;
      const a = await logits(bf16),
        b = await logits(f32);
      expect(a.length).toBe(ids.length * 320);
      expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    });
});
