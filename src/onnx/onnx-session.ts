// Runs an exported ONNX decoder in onnxruntime-node: greedy generation with the KV cache (present -> past) and
// the logits of a whole sequence; float16 graphs take and give Uint16Array half floats, converted here.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PeftError } from '../errors.ts';
import { halfToFloat } from '../hf/safetensors.ts';

type Ort = typeof import('onnxruntime-node');
type Session = import('onnxruntime-node').InferenceSession;
type OrtTensor = import('onnxruntime-node').Tensor;

export interface OnnxDecoder {
  session: Session;
  ort: Ort;
  elem: 'float32' | 'float16';
  layers: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  eos: number[];
}

/** The model file of an ONNX export directory (onnx/model.onnx or onnx/model_fp16.onnx), or a .onnx path. */
export function onnxModelFile(path: string): string {
  if (path.endsWith('.onnx') && existsSync(path)) return path;
  for (const f of ['model.onnx', 'model_fp16.onnx']) if (existsSync(join(path, 'onnx', f))) return join(path, 'onnx', f);
  throw new PeftError('E_MODEL', `${path}: no onnx/model.onnx or onnx/model_fp16.onnx (not an ONNX export)`, {
    file: path,
    hint: 'build an export with "format": "onnx" and pass its path',
  });
}

export async function loadOnnxDecoder(path: string, opts: { threads?: number } = {}): Promise<OnnxDecoder> {
  const file = onnxModelFile(path);
  const ort = (await import('onnxruntime-node')) as unknown as Ort;
  let session: Session;
  try {
    session = await ort.InferenceSession.create(file, { intraOpNumThreads: opts.threads ?? 0, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
  } catch (e) {
    throw new PeftError('E_MODEL', `${file}: onnxruntime cannot load it (${(e as Error).message})`, { file });
  }
  const dir = file.replace(/\/onnx\/[^/]+$/, '');
  if (!existsSync(join(dir, 'config.json')))
    throw new PeftError('E_MODEL', `${dir}: no config.json beside onnx/ (the export writes one; the decoder needs its head counts)`, {
      file: join(dir, 'config.json'),
    });
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const layers = session.inputNames.filter((n) => /^past_key_values\.\d+\.key$/.test(n)).length;
  const heads = cfg.num_attention_heads;
  const eos = Array.isArray(cfg.eos_token_id) ? cfg.eos_token_id : typeof cfg.eos_token_id === 'number' ? [cfg.eos_token_id] : [];
  return {
    session,
    ort,
    elem: file.endsWith('_fp16.onnx') ? 'float16' : 'float32',
    layers,
    kvHeads: cfg.num_key_value_heads ?? heads,
    headDim: cfg.head_dim ?? cfg.hidden_size / heads,
    vocab: cfg.vocab_size,
    eos,
  };
}

function toFloat32(t: OrtTensor): Float32Array {
  if (t.type === 'float32') return t.data as Float32Array;
  const h = t.data as Uint16Array;
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) out[i] = halfToFloat(h[i]);
  return out;
}

function emptyPast(d: OnnxDecoder): Record<string, OrtTensor> {
  const feeds: Record<string, OrtTensor> = {};
  const data = () => (d.elem === 'float32' ? new Float32Array(0) : new Uint16Array(0));
  for (let l = 0; l < d.layers; l++)
    for (const kv of ['key', 'value']) feeds[`past_key_values.${l}.${kv}`] = new d.ort.Tensor(d.elem, data(), [1, d.kvHeads, 0, d.headDim]);
  return feeds;
}

async function step(d: OnnxDecoder, ids: number[], past: Record<string, OrtTensor>, start: number) {
  const n = ids.length;
  const total = start + n;
  const feeds: Record<string, OrtTensor> = {
    ...past,
    input_ids: new d.ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, n]),
    attention_mask: new d.ort.Tensor('int64', new BigInt64Array(total).fill(1n), [1, total]),
    position_ids: new d.ort.Tensor(
      'int64',
      BigInt64Array.from({ length: n }, (_, i) => BigInt(start + i)),
      [1, n],
    ),
  };
  const out = await d.session.run(feeds);
  const next: Record<string, OrtTensor> = {};
  for (let l = 0; l < d.layers; l++) for (const kv of ['key', 'value']) next[`past_key_values.${l}.${kv}`] = out[`present.${l}.${kv}`];
  return { logits: toFloat32(out.logits), past: next };
}

/** Logits [ids.length, vocab] of one forward pass over `ids`. */
export async function onnxLogits(d: OnnxDecoder, ids: number[]): Promise<Float32Array> {
  return (await step(d, ids, emptyPast(d), 0)).logits;
}

/** Greedy decoding: up to maxTokens new ids after `prompt`, stopping after an eos id (kept) unless eos is []. */
export async function onnxGreedy(d: OnnxDecoder, prompt: number[], maxTokens: number, eos = d.eos): Promise<number[]> {
  const out: number[] = [];
  let r = await step(d, prompt, emptyPast(d), 0);
  let pos = prompt.length;
  while (out.length < maxTokens) {
    const last = r.logits.subarray(r.logits.length - d.vocab);
    let best = 0;
    for (let i = 1; i < last.length; i++) if (last[i] > last[best]) best = i;
    out.push(best);
    if (eos.includes(best) || out.length >= maxTokens) break;
    r = await step(d, [best], r.past, pos);
    pos += 1;
  }
  return out;
}
