// MoE checkpoints the families ship in, and bad ones: FP8 (float8_e4m3fn) weights with weight_scale_inv block scales
// load as their dequantised values (fp32 and NF4 storage), written here from the minimax_m2 fixture; an FP8 weight
// without its scales, a missing or mis-shaped expert, an unknown router and a LoRA on the router are clear errors.
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, train } from '../../src/engine/index.ts';
import { initModel } from '../../src/engine/init-model.ts';
import { readSafetensors, writeSafetensorsF32, writeSafetensorsRaw, type RawTensor, type Tensor } from '../../src/hf/safetensors.ts';
import { FIXTURES, hasAddon, maxAbsDiff } from './fixtures.ts';

const ARCH = join(FIXTURES, 'hf-arch');
const skip = !hasAddon ? 'native addon not built (npm run build:native)' : !existsSync(ARCH) ? '../shared/fixtures/hf-arch is absent' : '';

// float8_e4m3fn: 1 sign, 4 exponent (bias 7), 3 mantissa bits, max 448, no infinities.
function e4m3Decode(b: number): number {
  const s = b >> 7,
    e = (b >> 3) & 15,
    m = b & 7;
  const x = e === 15 && m === 7 ? Number.NaN : e === 0 ? (m / 8) * 2 ** -6 : (1 + m / 8) * 2 ** (e - 7);
  return s ? -x : x;
}
const POSITIVE = Array.from({ length: 127 }, (_, b) => e4m3Decode(b)); // codes 0..126, ascending
/** Round to the nearest e4m3 code (ties to the even code), |x| <= 448. */
function e4m3Encode(x: number): number {
  const a = Math.min(Math.abs(x), 448);
  let lo = 0,
    hi = 126;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (POSITIVE[mid] <= a) lo = mid;
    else hi = mid;
  }
  const dl = a - POSITIVE[lo],
    dh = POSITIVE[hi] - a;
  const code = dl < dh ? lo : dh < dl ? hi : lo % 2 === 0 ? lo : hi;
  return (x < 0 ? 0x80 : 0) | code;
}

const BLOCK = 16; // weight_block_size [16, 16]: several blocks per fixture matrix
const isLinear = (name: string) => /(q_proj|k_proj|v_proj|o_proj|w1|w2|w3)\.weight$/.test(name);

/** An F8_E4M3 tensor with its block scales, and the values it stands for (e4m3 * scale_inv). */
function quantise(t: Tensor): { q: Uint8Array; scale: Float32Array; deq: Float32Array } {
  const [rows, cols] = t.shape;
  const br = Math.ceil(rows / BLOCK),
    bc = Math.ceil(cols / BLOCK);
  const scale = new Float32Array(br * bc);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) {
      const k = Math.floor(r / BLOCK) * bc + Math.floor(c / BLOCK);
      scale[k] = Math.max(scale[k], Math.abs(t.data[r * cols + c]) / 448);
    }
  const q = new Uint8Array(rows * cols);
  const deq = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) {
      const s = scale[Math.floor(r / BLOCK) * bc + Math.floor(c / BLOCK)];
      q[r * cols + c] = e4m3Encode(t.data[r * cols + c] / s);
      deq[r * cols + c] = Math.fround(e4m3Decode(q[r * cols + c]) * s);
    }
  return { q, scale, deq };
}

const f32Bytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

describe.skipIf(skip !== '')('MoE checkpoints: FP8 block-scaled weights and bad models' + (skip ? ` (skipped: ${skip})` : ''), () => {
  let tmp: string;
  let src: Map<string, Tensor>;
  const fp8Dir = () => join(tmp, 'fp8');
  const refDir = () => join(tmp, 'ref');
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'peft-moe-ckpt-'));
    const hf = join(ARCH, 'minimax_m2', 'hf');
    src = readSafetensors(join(hf, 'model.safetensors')).tensors;
    const raw: RawTensor[] = [];
    const ref: Record<string, Tensor> = {};
    for (const [name, t] of src) {
      if (!isLinear(name)) {
        raw.push({ name, dtype: 'F32', shape: t.shape, bytes: f32Bytes(t.data) });
        ref[name] = t;
        continue;
      }
      const { q, scale, deq } = quantise(t);
      raw.push({ name, dtype: 'F8_E4M3', shape: t.shape, bytes: q });
      raw.push({ name: `${name}_scale_inv`, dtype: 'F32', shape: [Math.ceil(t.shape[0] / BLOCK), Math.ceil(t.shape[1] / BLOCK)], bytes: f32Bytes(scale) });
      ref[name] = { shape: t.shape, data: deq };
    }
    for (const d of [fp8Dir(), refDir()]) cpSync(hf, d, { recursive: true });
    const cfg = JSON.parse(readFileSync(join(hf, 'config.json'), 'utf8'));
    cfg.quantization_config = { quant_method: 'fp8', fmt: 'e4m3', activation_scheme: 'dynamic', weight_block_size: [BLOCK, BLOCK] };
    writeFileSync(join(fp8Dir(), 'config.json'), JSON.stringify(cfg, null, 2));
    writeSafetensorsRaw(join(fp8Dir(), 'model.safetensors'), raw);
    writeSafetensorsF32(join(refDir(), 'model.safetensors'), ref);
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('an FP8 e4m3 checkpoint loads as its block-dequantised weights (fp32 and NF4 storage)', async () => {
    const ids = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315];
    for (const quant of ['none', 'nf4'] as const) {
      const a = await loadModel({ dir: fp8Dir(), quant });
      const b = await loadModel({ dir: refDir(), quant });
      const sa = await a.score(ids, [], { logits: true });
      const sb = await b.score(ids, [], { logits: true });
      expect(maxAbsDiff(sa.logits!, sb.logits!)).toBe(0);
      expect(a.info.numExperts).toBe(8);
    }
    // the quantisation is real: the FP8 model is not the original
    const orig = await loadModel({ dir: join(ARCH, 'minimax_m2', 'hf') });
    const so = await orig.score(ids, [], { logits: true });
    const sf = await (await loadModel({ dir: fp8Dir() })).score(ids, [], { logits: true });
    const d = maxAbsDiff(so.logits!, sf.logits!);
    expect(d).toBeGreaterThan(1e-4);
    expect(d).toBeLessThan(3); // e4m3 keeps 3 mantissa bits (logits up to ~9 here)
  });

  it('an FP8 weight without its scales is an E_MODEL error naming the file and tensor', async () => {
    const dir = join(tmp, 'noscale');
    cpSync(fp8Dir(), dir, { recursive: true });
    const st = readFileSync(join(dir, 'model.safetensors'));
    const n = st.readBigUInt64LE(0);
    const header = JSON.parse(st.subarray(8, 8 + Number(n)).toString('utf8'));
    const raw: RawTensor[] = [];
    for (const [name, e] of Object.entries<{ dtype: string; shape: number[]; data_offsets: [number, number] }>(header)) {
      if (name === '__metadata__' || name === 'model.layers.1.block_sparse_moe.experts.5.w2.weight_scale_inv') continue;
      raw.push({ name, dtype: e.dtype, shape: e.shape, bytes: st.subarray(8 + Number(n) + e.data_offsets[0], 8 + Number(n) + e.data_offsets[1]) });
    }
    writeSafetensorsRaw(join(dir, 'model.safetensors'), raw);
    await expect(loadModel({ dir })).rejects.toMatchObject({
      code: 'E_MODEL',
      message: expect.stringMatching(/model\.safetensors.*experts\.5\.w2\.weight.*no block scales/),
    });
  });

  const variant = (name: string, edit: (t: Record<string, Tensor>, cfg: Record<string, unknown>) => void, family = 'mixtral') => {
    const dir = join(tmp, name);
    cpSync(join(ARCH, family, 'hf'), dir, { recursive: true });
    const t = Object.fromEntries(readSafetensors(join(dir, 'model.safetensors')).tensors);
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    edit(t, cfg);
    writeSafetensorsF32(join(dir, 'model.safetensors'), t);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
    return dir;
  };

  it('a missing or mis-shaped expert, an unknown router or a shared expert is refused, naming file and tensor / key', async () => {
    const missing = variant('missing', (t) => delete t['model.layers.1.block_sparse_moe.experts.3.w2.weight']);
    await expect(loadModel({ dir: missing })).rejects.toMatchObject({
      code: 'E_MODEL',
      message: expect.stringMatching(/model\.safetensors: missing tensor "model\.layers\.1\.block_sparse_moe\.experts\.3\.w2\.weight"/),
    });
    const shaped = variant('shaped', (t) => {
      const w = t['model.layers.0.block_sparse_moe.experts.6.w1.weight'];
      t['model.layers.0.block_sparse_moe.experts.6.w1.weight'] = { shape: [32, 128], data: w.data };
    });
    await expect(loadModel({ dir: shaped })).rejects.toMatchObject({
      code: 'E_MODEL',
      message: expect.stringMatching(/experts\.6\.w1\.weight" has shape \[32, 128\] but .*config\.json implies \[64, 64\]/),
    });
    const router = variant('router', (_t, cfg) => (cfg.scoring_func = 'sparsemixer'), 'minimax_m2');
    await expect(loadModel({ dir: router })).rejects.toMatchObject({
      code: 'E_MODEL',
      message: expect.stringMatching(/config\.json: scoring_func "sparsemixer" is not a router/),
    });
    const shared = variant('shared', (_t, cfg) => (cfg.shared_intermediate_size = 64), 'minimax_m2');
    await expect(loadModel({ dir: shared })).rejects.toMatchObject({ code: 'E_MODEL', message: expect.stringContaining('shared_intermediate_size') });
  });

  it("MiniMax-M2's hub config.json keys (rotary_dim, top-level rope_theta, use_qk_norm, scoring_func, use_routing_bias) give the fixture's outputs", async () => {
    const dir = variant(
      'hub-keys',
      (_t, cfg) => {
        delete cfg.rope_parameters;
        Object.assign(cfg, {
          rope_theta: 5000000.0,
          rotary_dim: 8,
          use_qk_norm: true,
          qk_norm_type: 'per_layer',
          scoring_func: 'sigmoid',
          use_routing_bias: true,
          shared_intermediate_size: 0,
          attn_type_list: [1, 1],
        });
      },
      'minimax_m2',
    );
    const exp = JSON.parse(readFileSync(join(ARCH, 'minimax_m2', 'expected.json'), 'utf8'));
    const m = await loadModel({ dir });
    const ids = exp.prompts[0].ids as number[];
    const s = await m.score(ids, [], { logits: true });
    expect(maxAbsDiff(s.logprobs, exp.cases.base[0].next_token_logprobs)).toBeLessThan(5e-5);
    const linear = variant('hub-lightning', (_t, cfg) => (cfg.attn_type_list = [0, 1]), 'minimax_m2');
    await expect(loadModel({ dir: linear })).rejects.toMatchObject({ code: 'E_MODEL', message: expect.stringContaining('attn_type_list') });
  });

  it('LoRA on the router or on dense-MLP names is refused on a MoE model; all-linear means attention + experts', async () => {
    const m = await loadModel({ dir: join(ARCH, 'mixtral', 'hf') });
    await expect(m.createAdapter({ r: 4, targets: ['q_proj', 'gate'] })).rejects.toMatchObject({ code: 'E_ADAPTER' });
    const dir = join(tmp, 'gate-adapter');
    cpSync(join(ARCH, 'mixtral', 'lora-a'), dir, { recursive: true });
    const cfg = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ ...cfg, target_modules: [...cfg.target_modules, 'gate_proj'] }));
    await expect(m.loadAdapter(dir)).rejects.toMatchObject({ code: 'E_ADAPTER', message: expect.stringContaining('gate_proj') });
    const all = await m.createAdapter({ r: 4, targets: 'all-linear' });
    expect(all.config.targets).toEqual(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'w1', 'w2', 'w3']);
  });

  it('init writes a random Mixtral model that loads, trains (NF4 experts, all-linear) and generates', async () => {
    const dir = join(tmp, 'init-mixtral');
    const r = initModel(dir, {
      modelType: 'mixtral',
      vocabSize: 300,
      hiddenSize: 64,
      intermediateSize: 32,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 2,
      numExperts: 4,
      seed: 3,
    });
    expect(r.numParams).toBe(300 * 64 * 2 + 64 + 2 * (2 * 64 + 64 * 64 * 2 + 2 * 16 * 64 * 2 + 4 * 64 + 4 * 3 * 64 * 32));
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(cfg).toMatchObject({
      model_type: 'mixtral',
      architectures: ['MixtralForCausalLM'],
      num_local_experts: 4,
      num_experts_per_tok: 2,
      tie_word_embeddings: false,
    });
    const m = await loadModel({ dir, quant: 'nf4' });
    expect(m.info.numExperts).toBe(4);
    const adapter = await m.createAdapter({ r: 4, targets: 'all-linear', seed: 1 });
    const ids = Array.from({ length: 2 }, (_, b) => Array.from({ length: 24 }, (_, t) => 3 + ((b * 31 + t * 7) % 290)));
    const res = await train({ model: m, adapter, batches: [{ inputIds: ids, labels: ids }], steps: 3, lr: 1e-2 });
    expect(res.records[2].loss).toBeLessThan(res.records[0].loss);
    expect(await m.generate([1, 5, 9], { maxTokens: 4, eos: [] }, [{ adapter: res.adapter }])).toHaveLength(4);
  });
});
