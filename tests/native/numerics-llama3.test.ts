// rope_scaling type llama3 (Llama 3.1 / 3.2) has no transformers fixture: the engine's logits are checked against a
// float64 Llama forward written here from the published formula, on a tiny model with Llama-3.2-1B's rope config.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initModel } from '../../src/engine/init-model.ts';
import { loadModel } from '../../src/engine/index.ts';
import { readSafetensors } from '../../src/hf/safetensors.ts';
import { hasAddon, maxAbsDiff } from './fixtures.ts';

// Llama-3.2-1B's config.json values
const ROPE = { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: 'llama3' };
const THETA = 500000;

function invFreq(hd: number, llama3: boolean): number[] {
  const out: number[] = [];
  for (let j = 0; j < hd / 2; j++) {
    const f = 1 / THETA ** ((2 * j) / hd);
    if (!llama3) {
      out.push(f);
      continue;
    }
    const lowWl = ROPE.original_max_position_embeddings / ROPE.low_freq_factor;
    const highWl = ROPE.original_max_position_embeddings / ROPE.high_freq_factor;
    const wl = (2 * Math.PI) / f;
    if (wl < highWl) out.push(f);
    else if (wl > lowWl) out.push(f / ROPE.factor);
    else {
      const s = (ROPE.original_max_position_embeddings / wl - ROPE.low_freq_factor) / (ROPE.high_freq_factor - ROPE.low_freq_factor);
      out.push((1 - s) * (f / ROPE.factor) + s * f);
    }
  }
  return out;
}

/** float64 Llama forward (RMSNorm, rotate_half RoPE, GQA causal attention, SwiGLU, tied head): logits [T][V]. */
function reference(dir: string, ids: number[], llama3: boolean): number[][] {
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const W = readSafetensors(join(dir, 'model.safetensors')).tensors;
  const w = (n: string) => W.get(n)!.data;
  const H = cfg.hidden_size,
    nh = cfg.num_attention_heads,
    nkv = cfg.num_key_value_heads,
    hd = H / nh,
    I = cfg.intermediate_size,
    V = cfg.vocab_size;
  const eps = cfg.rms_norm_eps;
  const lin = (x: number[], name: string, out: number, inp: number) => {
    const m = w(name);
    return Array.from({ length: out }, (_, o) => {
      let s = 0;
      for (let i = 0; i < inp; i++) s += m[o * inp + i] * x[i];
      return s;
    });
  };
  const norm = (x: number[], g: Float32Array) => {
    const r = 1 / Math.sqrt(x.reduce((a, b) => a + b * b, 0) / x.length + eps);
    return x.map((v, i) => v * r * g[i]);
  };
  const inv = invFreq(hd, llama3);
  const rope = (x: number[], heads: number, pos: number) => {
    const y = x.slice();
    for (let h = 0; h < heads; h++)
      for (let j = 0; j < hd / 2; j++) {
        const a = pos * inv[j],
          c = Math.cos(a),
          s = Math.sin(a),
          i1 = h * hd + j,
          i2 = i1 + hd / 2;
        y[i1] = x[i1] * c - x[i2] * s;
        y[i2] = x[i2] * c + x[i1] * s;
      }
    return y;
  };
  const emb = w('model.embed_tokens.weight');
  let xs = ids.map((id) => Array.from(emb.subarray(id * H, (id + 1) * H)));
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const p = `model.layers.${l}.`;
    const n1 = xs.map((x) => norm(x, w(p + 'input_layernorm.weight')));
    const q = n1.map((x, t) => rope(lin(x, p + 'self_attn.q_proj.weight', nh * hd, H), nh, t));
    const k = n1.map((x, t) => rope(lin(x, p + 'self_attn.k_proj.weight', nkv * hd, H), nkv, t));
    const v = n1.map((x) => lin(x, p + 'self_attn.v_proj.weight', nkv * hd, H));
    const att = q.map((qi, i) => {
      const o = new Array(nh * hd).fill(0);
      for (let h = 0; h < nh; h++) {
        const kh = Math.floor(h / (nh / nkv));
        const sc = Array.from({ length: i + 1 }, (_, j) => {
          let s = 0;
          for (let d = 0; d < hd; d++) s += qi[h * hd + d] * k[j][kh * hd + d];
          return s / Math.sqrt(hd);
        });
        const mx = Math.max(...sc),
          e = sc.map((s) => Math.exp(s - mx)),
          z = e.reduce((a, b) => a + b, 0);
        for (let j = 0; j <= i; j++) for (let d = 0; d < hd; d++) o[h * hd + d] += (e[j] / z) * v[j][kh * hd + d];
      }
      return o;
    });
    xs = xs.map((x, t) => {
      const o = lin(att[t], p + 'self_attn.o_proj.weight', H, nh * hd);
      return x.map((a, i) => a + o[i]);
    });
    xs = xs.map((x) => {
      const n2 = norm(x, w(p + 'post_attention_layernorm.weight'));
      const g = lin(n2, p + 'mlp.gate_proj.weight', I, H),
        u = lin(n2, p + 'mlp.up_proj.weight', I, H);
      const hh = g.map((gv, i) => (gv / (1 + Math.exp(-gv))) * u[i]);
      const d = lin(hh, p + 'mlp.down_proj.weight', H, I);
      return x.map((a, i) => a + d[i]);
    });
  }
  return xs.map((x) => lin(norm(x, w('model.norm.weight')), 'model.embed_tokens.weight', V, H));
}

describe.skipIf(!hasAddon)('rope_scaling llama3 against a float64 reference', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'peft-llama3-'));
    initModel(dir, {
      vocabSize: 64,
      hiddenSize: 128,
      intermediateSize: 96,
      numLayers: 1,
      numHeads: 2,
      numKvHeads: 1,
      ropeTheta: THETA,
      maxPositionEmbeddings: 131072,
      seed: 4,
      initStd: 0.2,
      tokenizer: 'none',
    });
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, rope_scaling: ROPE }));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('engine logits equal the float64 llama3 reference within 2e-4, and ignoring the scaling would be caught', async () => {
    const m = await loadModel({ dir });
    expect(m.info.ropeScaling).toBe('llama3');
    let s = 5;
    const ids = Array.from({ length: 160 }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % 63) + 1);
    const got = (await m.score(ids, [], { logits: true })).logits!;
    const ref = reference(dir, ids, true).flat();
    const plain = reference(dir, ids, false).flat();
    const diff = maxAbsDiff(got, ref);
    const sensitivity = maxAbsDiff(plain, ref);
    console.log(`[numerics] llama3 rope: max |logit diff| vs float64 ${diff.toExponential(2)}; unscaled rope would differ by ${sensitivity.toExponential(2)}`);
    expect(diff).toBeLessThan(2e-4);
    expect(sensitivity).toBeGreaterThan(1e-2);
  });
});
