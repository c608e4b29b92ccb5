// A Llama-family decoder as an ONNX graph in the layout Optimum and transformers.js use: inputs input_ids,
// attention_mask, position_ids and past_key_values.<i>.key/value [batch, kv_heads, past, head_dim]; outputs logits
// and present.<i>.key/value. RMSNorm and softmax run in float32 also in an fp16 graph; GQA by broadcasting.
import type { Tensor } from '../../../src/hf/safetensors.ts';
import type { LlamaHparams } from '../llama-hparams.ts';
import { GraphBuilder, type Elem } from './onnx-graph.ts';

export const OPSET = 17;

function transpose2d(t: Tensor): Float32Array {
  const [rows, cols] = t.shape;
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = t.data[i * cols + j];
  return out;
}

export function buildLlamaDecoder(h: LlamaHparams, tensors: Map<string, Tensor>, elem: Elem): GraphBuilder {
  const g = new GraphBuilder();
  const get = (name: string): Tensor => {
    const t = tensors.get(name);
    if (!t) throw new Error(`ONNX export: weight ${name} is missing`);
    return t;
  };
  const linear = (x: string, name: string): string => {
    const t = get(name);
    return g.one('MatMul', [x, g.weight(name, [t.shape[1], t.shape[0]], transpose2d(t), elem)]);
  };
  const rms = (x: string, name: string): string => {
    const w = get(name);
    const xf = elem === 'float32' ? x : g.one('Cast', [x], { to: 1 });
    const ms = g.one('ReduceMean', [g.one('Mul', [xf, xf])], { axes: [-1], keepdims: 1 });
    const inv = g.one('Reciprocal', [g.one('Sqrt', [g.one('Add', [ms, g.scalar(h.eps, 'float32')])])]);
    const y = g.one('Mul', [xf, inv]);
    const yt = elem === 'float32' ? y : g.one('Cast', [y], { to: 10 });
    return g.one('Mul', [yt, g.weight(name, [w.shape[0]], w.data, elem)]);
  };
  const { heads: nh, kvHeads: nkv, headDim: hd, hidden: H, vocab: V } = h;
  const rep = nh / nkv;
  const ids = g.input('input_ids', 'int64', ['batch_size', 'sequence_length']);
  const mask = g.input('attention_mask', 'int64', ['batch_size', 'total_sequence_length']);
  const pos = g.input('position_ids', 'int64', ['batch_size', 'sequence_length']);

  // RoPE tables from position_ids (float32, as transformers computes them), [B, 1, S, hd].
  const invFreq = new Float32Array(hd / 2).map((_, i) => 1 / h.ropeTheta ** ((2 * i) / hd));
  let posF = g.one('Cast', [pos], { to: 1 });
  if (h.ropeScaling) posF = g.one('Div', [posF, g.scalar(h.ropeScaling.factor, 'float32')]);
  const freqs = g.one('Mul', [g.one('Unsqueeze', [posF, g.ints([2])]), g.weight('/rope/inv_freq', [hd / 2], invFreq, 'float32')]);
  const emb = g.one('Concat', [freqs, freqs], { axis: -1 });
  const toElem = (x: string) => (elem === 'float32' ? x : g.one('Cast', [x], { to: 10 }));
  const cos = toElem(g.one('Unsqueeze', [g.one('Cos', [emb]), g.ints([1])]));
  const sin = toElem(g.one('Unsqueeze', [g.one('Sin', [emb]), g.ints([1])]));
  const rope = (x: string): string => {
    const x1 = g.one('Slice', [x, g.ints([0]), g.ints([hd / 2]), g.ints([3])]);
    const x2 = g.one('Slice', [x, g.ints([hd / 2]), g.ints([hd]), g.ints([3])]);
    const rot = g.one('Concat', [g.one('Neg', [x2]), x1], { axis: 3 });
    return g.one('Add', [g.one('Mul', [x, cos]), g.one('Mul', [rot, sin])]);
  };

  // Additive mask [B, 1, 1, S, T]: 0 where key j <= past + i and attention_mask is 1, else -1e9 (float32 scores).
  const T = g.one('Gather', [g.one('Shape', [mask]), g.ints([1], true)], { axis: 0 });
  const S = g.one('Gather', [g.one('Shape', [ids]), g.ints([1], true)], { axis: 0 });
  const past = g.one('Sub', [T, S]);
  const keyIdx = g.one('Range', [g.ints([0], true), T, g.ints([1], true)]);
  const qIdx = g.one('Range', [past, T, g.ints([1], true)]);
  const causal = g.one('LessOrEqual', [g.one('Unsqueeze', [keyIdx, g.ints([0])]), g.one('Unsqueeze', [qIdx, g.ints([1])])]);
  const keep = g.one('And', [g.one('Unsqueeze', [g.one('Cast', [mask], { to: 9 }), g.ints([1])]), causal]);
  const bias = g.one('Where', [g.one('Unsqueeze', [keep, g.ints([1, 2])]), g.scalar(0, 'float32'), g.scalar(-1e9, 'float32')]);

  let x = g.one('Gather', [g.weight('model.embed_tokens.weight', get('model.embed_tokens.weight').shape, get('model.embed_tokens.weight').data, elem), ids], {
    axis: 0,
  });
  const scale = g.scalar(1 / Math.sqrt(hd), 'float32');
  for (let l = 0; l < h.layers; l++) {
    const p = `model.layers.${l}`;
    const hIn = rms(x, `${p}.input_layernorm.weight`);
    const heads = (y: string, n: number) => g.one('Transpose', [g.one('Reshape', [y, g.ints([0, 0, n, hd])])], { perm: [0, 2, 1, 3] });
    const q = rope(heads(linear(hIn, `${p}.self_attn.q_proj.weight`), nh));
    const k = rope(heads(linear(hIn, `${p}.self_attn.k_proj.weight`), nkv));
    const v = heads(linear(hIn, `${p}.self_attn.v_proj.weight`), nkv);
    const pk = g.input(`past_key_values.${l}.key`, elem, ['batch_size', nkv, 'past_sequence_length', hd]);
    const pv = g.input(`past_key_values.${l}.value`, elem, ['batch_size', nkv, 'past_sequence_length', hd]);
    const kAll = g.one('Concat', [pk, k], { axis: 2 }, `present.${l}.key`);
    const vAll = g.one('Concat', [pv, v], { axis: 2 }, `present.${l}.value`);
    g.output(`present.${l}.key`, elem, ['batch_size', nkv, 'total_sequence_length', hd]);
    g.output(`present.${l}.value`, elem, ['batch_size', nkv, 'total_sequence_length', hd]);
    // [B, nkv, rep, S, hd] x [B, nkv, 1, hd, T]: each KV head serves its rep query heads (repeat_kv order).
    const q5 = g.one('Reshape', [q, g.ints([0, nkv, rep, -1, hd])]);
    const kT = g.one('Unsqueeze', [g.one('Transpose', [kAll], { perm: [0, 1, 3, 2] }), g.ints([2])]);
    let scores = g.one('MatMul', [q5, kT]);
    if (elem !== 'float32') scores = g.one('Cast', [scores], { to: 1 });
    const probs = g.one('Softmax', [g.one('Add', [g.one('Mul', [scores, scale]), bias])], { axis: -1 });
    const ctx = g.one('MatMul', [toElem(probs), g.one('Unsqueeze', [vAll, g.ints([2])])]);
    const merged = g.one('Reshape', [g.one('Transpose', [g.one('Reshape', [ctx, g.ints([0, nh, -1, hd])])], { perm: [0, 2, 1, 3] }), g.ints([0, 0, nh * hd])]);
    x = g.one('Add', [x, linear(merged, `${p}.self_attn.o_proj.weight`)]);
    const h2 = rms(x, `${p}.post_attention_layernorm.weight`);
    const gate = linear(h2, `${p}.mlp.gate_proj.weight`);
    const up = linear(h2, `${p}.mlp.up_proj.weight`);
    const act = g.one('Mul', [g.one('Mul', [gate, g.one('Sigmoid', [gate])]), up]);
    x = g.one('Add', [x, linear(act, `${p}.mlp.down_proj.weight`)]);
  }
  const xn = rms(x, 'model.norm.weight');
  const head = h.tied || !tensors.has('lm_head.weight') ? 'model.embed_tokens.weight' : 'lm_head.weight';
  const lmW =
    head === 'lm_head.weight'
      ? g.weight('lm_head.weight.T', [H, V], transpose2d(get(head)), elem)
      : g.one('Transpose', ['model.embed_tokens.weight'], { perm: [1, 0] });
  g.one('MatMul', [xn, lmW], {}, 'logits');
  g.output('logits', elem, ['batch_size', 'sequence_length', V]);
  return g;
}
