// RoPE inverse frequencies from the native engine against float64 references written here: default, linear,
// dynamic NTK (transformers 4.35, seq 48 vs max_pos 32 as the hf-tiny fixture was scored) and llama3 (Llama-3.2-1B).
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { addon } from './addon.ts';

const fixtures = join(import.meta.dirname, '../../../shared/fixtures');

/** transformers: inv_freq = 1 / base ** (arange(0, dim, 2) / dim), in float64. */
function defaultInvFreq(base: number, dim: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < dim; i += 2) out.push(1 / base ** (i / dim));
  return out;
}

/** transformers _compute_llama3_parameters, elementwise in float64. */
function llama3InvFreq(
  theta: number,
  dim: number,
  s: { factor: number; low_freq_factor: number; high_freq_factor: number; original_max_position_embeddings: number },
): number[] {
  const inv = defaultInvFreq(theta, dim);
  const old = s.original_max_position_embeddings;
  const lowWavelen = old / s.low_freq_factor;
  const highWavelen = old / s.high_freq_factor;
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    let g = wavelen > lowWavelen ? f / s.factor : f; // inv_freq_llama
    const smooth = (old / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
    const smoothed = ((1 - smooth) * g) / s.factor + smooth * g;
    const isMedium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
    if (isMedium) g = smoothed;
    return g;
  });
}

function expectClose(got: ArrayLike<number>, want: number[], rel = 1e-12): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const tol = rel * Math.abs(want[i]);
    if (Math.abs(got[i] - want[i]) > tol) throw new Error(`inv_freq[${i}]: got ${got[i]}, want ${want[i]} (tolerance ${tol})`);
  }
}

// config.json of meta-llama/Llama-3.2-1B (transformers 4.45), the keys that matter here.
const llama32_1b = {
  architectures: ['LlamaForCausalLM'],
  attention_bias: false,
  bos_token_id: 128000,
  eos_token_id: 128001,
  head_dim: 64,
  hidden_act: 'silu',
  hidden_size: 2048,
  intermediate_size: 8192,
  max_position_embeddings: 131072,
  mlp_bias: false,
  model_type: 'llama',
  num_attention_heads: 32,
  num_hidden_layers: 16,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-5,
  rope_scaling: { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
  rope_theta: 500000.0,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  vocab_size: 128256,
};

describe('rope inverse frequencies', () => {
  it('default rope equals theta^(-2j/d)', () => {
    const cfg = { ...llama32_1b, rope_scaling: null };
    const r = addon.ropeInvFreq(JSON.stringify(cfg), 100);
    expect(r.posScale).toBe(1);
    expectClose(r.invFreq, defaultInvFreq(500000, 64));
  });

  it('llama3 (Llama-3.2-1B config) matches the float64 reference, at any sequence length', () => {
    const want = llama3InvFreq(500000, 64, llama32_1b.rope_scaling);
    for (const seq of [1, 8192, 100000]) {
      const r = addon.ropeInvFreq(JSON.stringify(llama32_1b), seq);
      expect(r.posScale).toBe(1);
      expectClose(r.invFreq, want);
    }
    // all three regimes are present: untouched high frequencies, divided low ones, smoothed medium ones
    const plain = defaultInvFreq(500000, 64);
    const r = addon.ropeInvFreq(JSON.stringify(llama32_1b), 16).invFreq as Float64Array;
    const kinds = Array.from(r).map((f, i) => (f === plain[i] ? 'high' : Math.abs(f - plain[i] / 32) < 1e-18 ? 'low' : 'medium'));
    expect(kinds[0]).toBe('high');
    expect(kinds[31]).toBe('low');
    expect(kinds.filter((k) => k === 'medium').length).toBeGreaterThan(0);
    expect(kinds.filter((k) => k === 'high').length).toBeGreaterThan(0);
  });

  it('llama3 with the older "type" spelling is the same', () => {
    const { rope_type: _t, ...rest } = llama32_1b.rope_scaling;
    const cfg = { ...llama32_1b, rope_scaling: { ...rest, type: 'llama3' } };
    expectClose(addon.ropeInvFreq(JSON.stringify(cfg), 10).invFreq, llama3InvFreq(500000, 64, llama32_1b.rope_scaling));
  });

  it('linear scaling keeps the frequencies and divides positions by the factor', () => {
    const cfg = { ...llama32_1b, rope_theta: 10000, head_dim: 16, rope_scaling: { type: 'linear', factor: 4 } };
    const r = addon.ropeInvFreq(JSON.stringify(cfg), 500);
    expect(r.posScale).toBe(0.25);
    expectClose(r.invFreq, defaultInvFreq(10000, 16));
  });
});

const dynamicDir = join(fixtures, 'hf-tiny/llama-rope-dynamic');
describe.skipIf(!existsSync(dynamicDir))('dynamic NTK on the hf-tiny fixture config (../shared/fixtures; skipped when absent)', () => {
  const text = existsSync(dynamicDir) ? readFileSync(join(dynamicDir, 'config.json'), 'utf8') : '{}';
  const hd = 16,
    theta = 10000,
    factor = 2,
    maxPos = 32;

  it('seq 48 > max_pos 32: base = theta * ((f*T/max) - (f-1)) ** (d/(d-2)) for all positions', () => {
    const base = theta * ((factor * 48) / maxPos - (factor - 1)) ** (hd / (hd - 2));
    const expected = JSON.parse(readFileSync(join(dynamicDir, 'expected.json'), 'utf8'));
    expect(Math.abs(base - expected.checks.rope_scaling.effective_rope_base_for_this_forward)).toBeLessThan(1e-3);
    const r = addon.ropeInvFreq(text, 48);
    expect(r.posScale).toBe(1);
    expectClose(r.invFreq, defaultInvFreq(base, hd));
    // and it is not the unscaled table
    expect(Math.abs(r.invFreq[4] - defaultInvFreq(theta, hd)[4])).toBeGreaterThan(1e-4);
  });

  it('seq <= max_pos uses plain rope_theta (no state carried from a longer call)', () => {
    addon.ropeInvFreq(text, 48);
    expectClose(addon.ropeInvFreq(text, 32).invFreq, defaultInvFreq(theta, hd));
    expectClose(addon.ropeInvFreq(text, 5).invFreq, defaultInvFreq(theta, hd));
    const r33 = addon.ropeInvFreq(text, 33).invFreq;
    expectClose(r33, defaultInvFreq(theta * ((factor * 33) / maxPos - (factor - 1)) ** (hd / (hd - 2)), hd));
  });
});
