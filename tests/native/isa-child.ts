// Child process of isa.test.ts: loads stories260K (fp32 and NF4) under the PEFT_ISA it was started with and prints
// the greedy continuation of "Once upon a time" and the kernel ISA the engine reports, as one JSON line.
import { loadModel } from '../../src/engine/index.ts';
import { addon } from './addon.ts';
import { STORIES } from './fixtures.ts';

const out: Record<string, unknown> = { isa: addon.kernels.backendInfo().isa };
for (const quant of ['none', 'nf4'] as const) {
  const m = await loadModel({ dir: STORIES, quant });
  const prompt = m.tokenizer.encode('Once upon a time', { special: true });
  out[quant] = await m.generate(prompt, { maxTokens: 40, temperature: 0 });
}
console.log(JSON.stringify(out));
