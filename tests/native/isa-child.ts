// Child process of isa.test.ts: loads stories260K (fp32 and NF4) under the PEFT_ISA it was started with and prints,
// as one JSON line, the kernel ISA the engine reports, the greedy continuation of "Once upon a time", and three
// training steps of a LoRA on NF4 weights (fp32 compute) on tinystories-sample: loss and gradient norm per step.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, packCausalLM, train } from '../../src/engine/index.ts';
import { addon } from './addon.ts';
import { STORIES, TINYSTORIES } from './fixtures.ts';

const out: Record<string, unknown> = { isa: addon.kernels.backendInfo().isa };
for (const quant of ['none', 'nf4'] as const) {
  const m = await loadModel({ dir: STORIES, quant });
  const prompt = m.tokenizer.encode('Once upon a time', { special: true });
  out[quant] = await m.generate(prompt, { maxTokens: 40, temperature: 0 });
  if (quant === 'nf4') {
    const lines = readFileSync(join(TINYSTORIES, 'tinystories.txt'), 'utf8')
      .split('\n')
      .filter((l) => l.trim());
    const batches = packCausalLM(
      lines.slice(0, 40).map((l) => m.tokenizer.encode(l, { special: true })),
      64,
      4,
      1,
    ).slice(0, 3);
    const adapter = await m.createAdapter({ r: 8, alpha: 16, targets: 'all-linear', seed: 1 });
    const res = await train({ model: m, adapter, batches, steps: 3, lr: 3e-3 });
    out.train = res.records.map((r) => ({ loss: r.loss, gradNorm: r.gradNorm }));
  }
}
console.log(JSON.stringify(out));
