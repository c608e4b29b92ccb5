// Runs GGUF files in llama.cpp through node-llama-cpp (prebuilt CPU binaries): greedy ids after a prompt of token
// ids, with LoRA GGUFs applied at scale 1, for the export tests. `llamaCppSkip` says why it cannot run here.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

export function llamaCppSkip(): string {
  try {
    const req = createRequire(import.meta.url);
    const main = req.resolve('node-llama-cpp');
    return existsSync(main) ? '' : 'node-llama-cpp is not installed';
  } catch {
    return 'node-llama-cpp is not installed (npm ci)';
  }
}

type Llama = Awaited<ReturnType<typeof import('node-llama-cpp')['getLlama']>>;
let llama: Promise<Llama> | undefined;

export async function llamaCpp(): Promise<Llama> {
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  llama ??= getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false });
  return llama;
}

/** Greedy decoding of `n` tokens after `prompt` (ids), with the given LoRA GGUFs. */
export async function llamaCppGreedy(modelPath: string, loras: string[], prompt: number[], n: number, threads = 1): Promise<number[]> {
  const l = await llamaCpp();
  const model = await l.loadModel({ modelPath, gpuLayers: 0 });
  try {
    const ctx = await model.createContext({
      contextSize: 256,
      threads,
      lora: loras.length ? { adapters: loras.map((filePath) => ({ filePath, scale: 1 })) } : undefined,
    });
    const seq = ctx.getSequence();
    const out: number[] = [];
    for await (const t of seq.evaluate(prompt as never[], { temperature: 0 })) {
      out.push(t as unknown as number);
      if (out.length >= n) break;
    }
    await ctx.dispose();
    return out;
  } finally {
    await model.dispose();
  }
}
