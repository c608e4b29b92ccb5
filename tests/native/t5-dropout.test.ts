// T5 LoRA dropout with PEFT's semantics: dropout on the trainable LoRA branch's input, in training steps only. With
// B = 0 the branch adds nothing, so the first step's training loss equals the eval loss exactly (the base path is never
// dropped); once B moves, training losses differ from eval; masks are seeded (same seed, same adapter) and real
// (another seed or no dropout, another adapter); eval never drops.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initT5Model } from '../../src/engine/init-t5.ts';
import { type T5Example, type T5Model, T5Trainer, loadT5Model } from '../../src/engine/t5.ts';
import { hasAddon } from './fixtures.ts';

const NO_ADDON = hasAddon ? '' : 'native addon not built (npm run build:native)';

const ids = (n: number, k: number) => Int32Array.from({ length: n }, (_, i) => 3 + ((i * 7 + k * 13) % 60));
const example = (k: number): T5Example => {
  const dec = Int32Array.from([0, ...ids(5, k + 1)]);
  return { enc: ids(7, k), dec, labels: Int32Array.from([...dec.slice(1), 1]) };
};
const XS = [example(0), example(1), example(2), example(3)];

describe.skipIf(NO_ADDON !== '')(`t5 LoRA dropout${NO_ADDON ? ` (skipped: ${NO_ADDON})` : ''}`, () => {
  let tmp: string;
  let m: T5Model;
  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'peftmake-t5-dropout-'));
    const { dir } = initT5Model(join(tmp, 'model'), { vocabSize: 300, dModel: 16, dFf: 32, numLayers: 2, numHeads: 2, seed: 1, tokenizer: 'none' });
    m = await loadT5Model({ dir });
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  const run = async (dropout: number, seed: number) => {
    const a = await m.createAdapter({ r: 4, alpha: 8, targets: 'all-linear', seed: 0 });
    const tr = new T5Trainer(m, a, [], { dropout, seed });
    const before = await tr.eval(XS);
    const res = await tr.step([[XS], [XS], [XS]], [0.05, 0.05, 0.05]);
    return { a, tr, before: before.lossSum / before.tokens, res, tensors: a.tensors() };
  };
  const same = (x: Record<string, Float32Array>, y: Record<string, Float32Array>) => Object.keys(x).every((k) => x[k].every((v, i) => v === y[k][i]));

  it('drops only the LoRA branch, only in training, with seeded masks', async () => {
    const d = await run(0.3, 7);
    const none = await run(0, 7);
    // step 1: B = 0, the LoRA branch is zero whatever its input: the training loss is the undropped eval loss
    expect(d.res[0].loss).toBeCloseTo(d.before, 6);
    expect(none.res[0].loss).toBeCloseTo(none.before, 6);
    // later steps: with dropout the training forward is not the eval forward
    const evalNow = await d.tr.eval(XS);
    const plain = await new T5Trainer(m, d.a, [], {}).eval(XS);
    expect(evalNow).toEqual(plain); // eval never drops
    expect(Math.abs(d.res[2].loss - none.res[2].loss)).toBeGreaterThan(1e-6);
    expect(same(d.tensors, none.tensors)).toBe(false);
    expect(same(d.tensors, (await run(0.3, 7)).tensors)).toBe(true);
    expect(same(d.tensors, (await run(0.3, 8)).tensors)).toBe(false);
  });

  it('refuses a dropout outside [0, 0.99]', async () => {
    const a = await m.createAdapter({ r: 2, targets: ['q'], seed: 0 });
    expect(() => new T5Trainer(m, a, [], { dropout: 1 })).toThrow(/dropout/);
  });
});
