// `peftmake generate --runtime onnx --model <onnx export dir>`: greedy generation through onnxruntime-node with the
// export's own tokenizer; the same output shape as the engine's generate.
import { PeftError } from '../errors.ts';
import { loadModelTokenizer } from '../hf/tokenizer.ts';
import { loadOnnxDecoder, onnxGreedy } from './onnx-session.ts';

export interface OnnxGenerateArgs {
  dir: string;
  prompt?: string;
  promptIds?: number[];
  maxTokens: number;
  temperature: number;
  threads?: number;
}

export async function onnxGenerate(a: OnnxGenerateArgs): Promise<{ text: string; tokens: number[]; prompt_tokens: number[] }> {
  if (a.temperature !== 0)
    throw new PeftError('E_USAGE', `--runtime onnx decodes greedily; --temperature ${a.temperature} is not supported there`, {
      hint: 'drop --temperature, or use the engine runtime for sampling',
    });
  const d = await loadOnnxDecoder(a.dir, { threads: a.threads });
  const tok = safeTokenizer(a.dir);
  if (a.prompt !== undefined && !tok) throw new PeftError('E_MODEL', `${a.dir}: no tokenizer.json to encode --prompt`, { hint: 'pass --prompt-ids' });
  const prompt = a.promptIds ?? tok!.encode(a.prompt!, { special: true });
  if (!prompt.length) throw new PeftError('E_USAGE', 'the prompt is empty');
  for (const id of prompt)
    if (!Number.isInteger(id) || id < 0 || id >= d.vocab)
      throw new PeftError('E_USAGE', `--prompt-ids: ${id} is not a token id of this model (vocab ${d.vocab})`);
  const tokens = await onnxGreedy(d, prompt, a.maxTokens);
  let text = '';
  try {
    text = tok?.decode(tokens, { skipSpecial: true }) ?? '';
  } catch {
    text = '';
  }
  return { text, tokens, prompt_tokens: prompt };
}

function safeTokenizer(dir: string) {
  try {
    return loadModelTokenizer(dir);
  } catch (e) {
    if ((e as PeftError).code === 'E_MODEL') return undefined;
    throw e;
  }
}
