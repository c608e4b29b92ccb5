// A table of malformed safetensors / config / index files written into temp dirs: each must give a JS error with
// code E_MODEL and a message naming the file and tensor or key (never a crash). Also sharded loading and the writer.
import { describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSafetensorsF32, readSafetensors, readSafetensorsHeader, writeSafetensorsRaw, type RawTensor } from '../../src/hf/safetensors.ts';
import { initModel } from '../../src/engine/init-model.ts';
import { addon } from './addon.ts';

const shape = { vocabSize: 16, hiddenSize: 8, intermediateSize: 12, numLayers: 2, numHeads: 2, numKvHeads: 1, tokenizer: 'none', seed: 5 };

/** A valid tiny model directory, made fresh for each case. */
function goodModel(extra: Parameters<typeof initModel>[1] | object = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'peft-bad-'));
  initModel(dir, { ...shape, ...extra });
  return dir;
}

const st = (dir: string) => join(dir, 'model.safetensors');
const cfgPath = (dir: string) => join(dir, 'config.json');

function tensorsOf(dir: string): RawTensor[] {
  const h = readSafetensorsHeader(st(dir));
  const buf = readFileSync(st(dir));
  return h.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: buf.subarray(h.dataStart + t.begin, h.dataStart + t.end) }));
}

/** Rewrites model.safetensors with a header object edited by `edit` (data section unchanged). */
function editHeader(dir: string, edit: (h: Record<string, any>) => void, raw?: (text: string) => string): void {
  const buf = readFileSync(st(dir));
  const n = Number(buf.readBigUInt64LE(0));
  const h = JSON.parse(buf.subarray(8, 8 + n).toString());
  edit(h);
  const text = raw ? raw(JSON.stringify(h)) : JSON.stringify(h);
  const hb = Buffer.from(text);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(hb.length));
  writeFileSync(st(dir), Buffer.concat([len, hb, buf.subarray(8 + n)]));
}

function editConfig(dir: string, edit: (c: Record<string, any>) => void): void {
  const c = JSON.parse(readFileSync(cfgPath(dir), 'utf8'));
  edit(c);
  writeFileSync(cfgPath(dir), JSON.stringify(c, null, 2));
}

const Q0 = 'model.layers.0.self_attn.q_proj.weight';

interface Case {
  name: string;
  make: () => string; // returns the model dir
  file: string; // file name the message must name
  fragments: string[];
}

const cases: Case[] = [
  // --- safetensors container ---
  {
    name: 'file shorter than 8 bytes',
    file: 'model.safetensors',
    fragments: ['too short'],
    make: () => {
      const d = goodModel();
      writeFileSync(st(d), Buffer.from([1, 2, 3]));
      return d;
    },
  },
  {
    name: 'empty file',
    file: 'model.safetensors',
    fragments: ['too short'],
    make: () => {
      const d = goodModel();
      writeFileSync(st(d), '');
      return d;
    },
  },
  {
    name: 'header length beyond the file',
    file: 'model.safetensors',
    fragments: ['exceeds the file size'],
    make: () => {
      const d = goodModel();
      const b = readFileSync(st(d));
      b.writeBigUInt64LE(BigInt(b.length), 0);
      writeFileSync(st(d), b);
      return d;
    },
  },
  {
    name: 'header length 2^64-1',
    file: 'model.safetensors',
    fragments: ['exceeds the file size'],
    make: () => {
      const d = goodModel();
      const b = readFileSync(st(d));
      b.writeBigUInt64LE(2n ** 64n - 1n, 0);
      writeFileSync(st(d), b);
      return d;
    },
  },
  {
    name: 'truncated data section',
    file: 'model.safetensors',
    fragments: ['truncated file'],
    make: () => {
      const d = goodModel();
      truncateSync(st(d), readFileSync(st(d)).length - 10);
      return d;
    },
  },
  {
    name: 'trailing bytes',
    file: 'model.safetensors',
    fragments: ['trailing bytes'],
    make: () => {
      const d = goodModel();
      writeFileSync(st(d), Buffer.concat([readFileSync(st(d)), Buffer.alloc(4)]));
      return d;
    },
  },
  {
    name: 'header is not JSON',
    file: 'model.safetensors',
    fragments: ['invalid JSON'],
    make: () => {
      const d = goodModel();
      editHeader(
        d,
        () => {},
        (t) => t.slice(0, -1) + ',}',
      );
      return d;
    },
  },
  {
    name: 'header is an array',
    file: 'model.safetensors',
    fragments: ["does not start with '{'"],
    make: () => {
      const d = goodModel();
      editHeader(
        d,
        () => {},
        (t) => `[${t}]`,
      );
      return d;
    },
  },
  {
    name: 'duplicate tensor key',
    file: 'model.safetensors',
    fragments: ['duplicate key', Q0],
    make: () => {
      const d = goodModel();
      editHeader(
        d,
        () => {},
        (t) => t.replace(/}$/, `,${JSON.stringify(Q0)}:{}}`),
      );
      return d;
    },
  },
  {
    name: 'unknown dtype',
    file: 'model.safetensors',
    fragments: [Q0, 'unknown dtype "F7"'],
    make: () => {
      const d = goodModel();
      editHeader(d, (h) => (h[Q0].dtype = 'F7'));
      return d;
    },
  },
  {
    name: 'unsupported dtype',
    file: 'model.safetensors',
    fragments: [Q0, 'I32 is not supported'],
    make: () => {
      const d = goodModel();
      editHeader(d, (h) => (h[Q0].dtype = 'I32'));
      return d;
    },
  },
  {
    name: 'dtype missing',
    file: 'model.safetensors',
    fragments: [Q0, 'dtype is missing'],
    make: () => {
      const d = goodModel();
      editHeader(d, (h) => delete h[Q0].dtype);
      return d;
    },
  },
  {
    name: 'shape x dtype != byte range',
    file: 'model.safetensors',
    fragments: [Q0, 'shape [8, 9] x F32 needs 288 bytes but data_offsets span 256'],
    make: () => {
      const d = goodModel();
      editHeader(d, (h) => (h[Q0].shape = [8, 9]));
      return d;
    },
  },
  {
    name: 'dtype width mismatch',
    file: 'model.safetensors',
    fragments: [Q0, 'x F16 needs 128 bytes'],
    make: () => {
      const d = goodModel();
      editHeader(d, (h) => (h[Q0].dtype = 'F16'));
      return d;
    },
  },
  {
    name: 'negative dimension',
    file: 'model.safetensors',
    fragments: [Q0, 'non-negative'],
    make: () => {
      const d = goodModel();
      editHeader(d, (h) => (h[Q0].shape = [-8, 8]));
      return d;
    },
  },
  {
    name: 'offsets end before begin',
    file: 'model.safetensors',
    fragments: [Q0, 'end before begin'],
    make: () => {
      const d = goodModel();
      editHeader(d, (h) => (h[Q0].data_offsets = [100, 50]));
      return d;
    },
  },
  {
    name: 'offsets not integers',
    file: 'model.safetensors',
    fragments: [Q0, 'data_offsets must be'],
    make: () => {
      const d = goodModel();
      editHeader(d, (h) => (h[Q0].data_offsets = [0.5, 2]));
      return d;
    },
  },
  {
    name: 'offsets outside the data section',
    file: 'model.safetensors',
    fragments: [Q0, 'lie outside'],
    make: () => {
      const d = goodModel();
      editHeader(d, (h) => {
        const [b, e] = h[Q0].data_offsets;
        h[Q0].data_offsets = [b + 1e6, e + 1e6];
      });
      return d;
    },
  },
  {
    name: 'overlapping ranges',
    file: 'model.safetensors',
    fragments: ['tensor "model.layers.0.self_attn.o_proj.weight"', 'overlap tensor "model.layers.0.self_attn.k_proj.weight"'],
    make: () => {
      const d = goodModel();
      editHeader(d, (h) => {
        const k = h['model.layers.0.self_attn.k_proj.weight'];
        k.shape = [8, 8]; // twice its size: runs into o_proj, which follows it
        k.data_offsets = [k.data_offsets[0], k.data_offsets[0] + 256];
      });
      return d;
    },
  },
  {
    name: 'metadata value not a string',
    file: 'model.safetensors',
    fragments: ['__metadata__.format'],
    make: () => {
      const d = goodModel();
      editHeader(d, (h) => (h.__metadata__ = { format: 3 }));
      return d;
    },
  },
  // --- tensor set vs config ---
  {
    name: 'missing tensor',
    file: 'model.safetensors',
    fragments: ['missing tensor "model.layers.1.mlp.up_proj.weight"', 'config.json'],
    make: () => {
      const d = goodModel();
      writeSafetensorsRaw(
        st(d),
        tensorsOf(d).filter((t) => t.name !== 'model.layers.1.mlp.up_proj.weight'),
      );
      return d;
    },
  },
  {
    name: 'unexpected tensor',
    file: 'model.safetensors',
    fragments: ['unexpected tensor "model.layers.2.mlp.up_proj.weight"', 'num_hidden_layers 2'],
    make: () => {
      const d = goodModel();
      const ts = tensorsOf(d);
      const up = ts.find((t) => t.name === 'model.layers.1.mlp.up_proj.weight')!;
      writeSafetensorsRaw(st(d), [...ts, { ...up, name: 'model.layers.2.mlp.up_proj.weight' }]);
      return d;
    },
  },
  {
    name: 'tensor without the model. prefix',
    file: 'model.safetensors',
    fragments: ['unexpected tensor "norm.weight"', 'rename it to "model.norm.weight"'],
    make: () => {
      const d = goodModel();
      writeSafetensorsRaw(
        st(d),
        tensorsOf(d).map((t) => (t.name === 'model.norm.weight' ? { ...t, name: 'norm.weight' } : t)),
      );
      return d;
    },
  },
  {
    name: 'shape vs config (k_proj rows for 2 kv heads)',
    file: 'model.safetensors',
    fragments: ['"model.layers.0.self_attn.k_proj.weight" has shape [4, 8]', 'implies [8, 8]', 'num_key_value_heads 2'],
    make: () => {
      const d = goodModel();
      editConfig(d, (c) => (c.num_key_value_heads = 2));
      return d;
    },
  },
  {
    name: 'vocab_size vs embedding',
    file: 'model.safetensors',
    fragments: ['"model.embed_tokens.weight" has shape [16, 8]', 'vocab_size 20'],
    make: () => {
      const d = goodModel();
      editConfig(d, (c) => (c.vocab_size = 20));
      return d;
    },
  },
  {
    name: 'untied config without lm_head',
    file: 'model.safetensors',
    fragments: ['missing tensor "lm_head.weight"', 'tie_word_embeddings is false'],
    make: () => {
      const d = goodModel();
      editConfig(d, (c) => (c.tie_word_embeddings = false));
      return d;
    },
  },
  {
    name: 'tie_word_embeddings absent means untied (LlamaConfig default)',
    file: 'model.safetensors',
    fragments: ['missing tensor "lm_head.weight"'],
    make: () => {
      const d = goodModel();
      editConfig(d, (c) => delete c.tie_word_embeddings);
      return d;
    },
  },
  {
    name: 'attention_bias without biases',
    file: 'model.safetensors',
    fragments: ['missing tensor "model.layers.0.self_attn.k_proj.bias"', 'attention_bias is true'],
    make: () => {
      const d = goodModel();
      editConfig(d, (c) => (c.attention_bias = true));
      return d;
    },
  },
  {
    name: 'bias with the wrong shape',
    file: 'model.safetensors',
    fragments: ['"model.layers.0.self_attn.q_proj.bias" has shape [3]'],
    make: () => {
      const d = goodModel();
      writeSafetensorsRaw(st(d), [...tensorsOf(d), { name: 'model.layers.0.self_attn.q_proj.bias', dtype: 'F32', shape: [3], bytes: new Uint8Array(12) }]);
      return d;
    },
  },
  {
    name: 'no weights at all',
    file: 'peft-bad-',
    fragments: ['no model.safetensors or model.safetensors.index.json'],
    make: () => {
      const d = goodModel();
      rmSync(st(d));
      return d;
    },
  },
  // --- config.json ---
  {
    name: 'config.json missing',
    file: 'config.json',
    fragments: ['not found'],
    make: () => {
      const d = goodModel();
      rmSync(cfgPath(d));
      return d;
    },
  },
  {
    name: 'config.json invalid JSON (line:col)',
    file: 'config.json:3:',
    fragments: ['invalid JSON'],
    make: () => {
      const d = goodModel();
      writeFileSync(cfgPath(d), '{\n  "model_type": "llama",\n  "hidden_size": 8,,\n}');
      return d;
    },
  },
  {
    name: 'config.json not an object',
    file: 'config.json',
    fragments: ['must hold a JSON object'],
    make: () => {
      const d = goodModel();
      writeFileSync(cfgPath(d), '[1]');
      return d;
    },
  },
  {
    name: 'hidden_size missing',
    file: 'config.json',
    fragments: ['key "hidden_size" is missing', 'model width'],
    make: () => {
      const d = goodModel();
      editConfig(d, (c) => delete c.hidden_size);
      return d;
    },
  },
  {
    name: 'hidden_size not an integer',
    file: 'config.json',
    fragments: ['key "hidden_size" must be an integer', '"8"'],
    make: () => {
      const d = goodModel();
      editConfig(d, (c) => (c.hidden_size = '8'));
      return d;
    },
  },
  {
    name: 'num_hidden_layers zero',
    file: 'config.json',
    fragments: ['key "num_hidden_layers" must be an integer >= 1'],
    make: () => {
      const d = goodModel();
      editConfig(d, (c) => (c.num_hidden_layers = 0));
      return d;
    },
  },
  {
    name: 'heads not a multiple of kv heads',
    file: 'config.json',
    fragments: ['not a multiple of num_key_value_heads 3'],
    make: () => {
      const d = goodModel();
      editConfig(d, (c) => (c.num_key_value_heads = 3));
      return d;
    },
  },
  {
    name: 'hidden not divisible by heads',
    file: 'config.json',
    fragments: ['hidden_size 8 is not divisible by num_attention_heads 3', 'head_dim'],
    make: () => {
      const d = goodModel();
      editConfig(d, (c) => {
        c.num_attention_heads = 3;
        c.num_key_value_heads = 1;
      });
      return d;
    },
  },
  {
    name: 'odd head_dim',
    file: 'config.json',
    fragments: ['head_dim 3 must be even'],
    make: () => {
      const d = goodModel();
      editConfig(d, (c) => (c.head_dim = 3));
      return d;
    },
  },
  {
    name: 'rms_norm_eps negative',
    file: 'config.json',
    fragments: ['key "rms_norm_eps" must be a positive number'],
    make: () => {
      const d = goodModel();
      editConfig(d, (c) => (c.rms_norm_eps = -1));
      return d;
    },
  },
  {
    name: 'model_type missing',
    file: 'config.json',
    fragments: ['key "model_type" is missing'],
    make: () => {
      const d = goodModel();
      editConfig(d, (c) => {
        delete c.model_type;
        delete c.architectures;
      });
      return d;
    },
  },
  {
    name: 'unsupported model_type',
    file: 'config.json',
    fragments: ['model_type "falcon" is not supported', 'llama, mistral, qwen2'],
    make: () => {
      const d = goodModel();
      editConfig(d, (c) => {
        c.model_type = 'falcon';
        delete c.architectures;
      });
      return d;
    },
  },
  {
    name: 'gpt2 model_type on a Llama architecture',
    file: 'config.json',
    fragments: ['architecture "LlamaForCausalLM" is not supported for model_type "gpt2"', 'GPT2LMHeadModel'],
    make: () => {
      const d = goodModel();
      editConfig(d, (c) => {
        c.model_type = 'gpt2';
      });
      return d;
    },
  },
  {
    name: 'unsupported architecture',
    file: 'config.json',
    fragments: ['architecture "LlamaForSequenceClassification" is not supported'],
    make: () => {
      const d = goodModel();
      editConfig(d, (c) => (c.architectures = ['LlamaForSequenceClassification']));
      return d;
    },
  },
  {
    name: 'unsupported activation',
    file: 'config.json',
    fragments: ['hidden_act "gelu" is not supported'],
    make: () => {
      const d = goodModel();
      editConfig(d, (c) => (c.hidden_act = 'gelu'));
      return d;
    },
  },
  {
    name: 'rope_scaling yarn',
    file: 'config.json',
    fragments: ['"rope_scaling" type "yarn" is not supported'],
    make: () => {
      const d = goodModel();
      editConfig(d, (c) => (c.rope_scaling = { type: 'yarn', factor: 4 }));
      return d;
    },
  },
  {
    name: 'rope_scaling without factor',
    file: 'config.json',
    fragments: ['"rope_scaling.factor" must be a positive number'],
    make: () => {
      const d = goodModel();
      editConfig(d, (c) => (c.rope_scaling = { type: 'linear' }));
      return d;
    },
  },
  {
    name: 'llama3 rope without low_freq_factor',
    file: 'config.json',
    fragments: ['"rope_scaling.low_freq_factor"'],
    make: () => {
      const d = goodModel();
      editConfig(d, (c) => (c.rope_scaling = { rope_type: 'llama3', factor: 8, high_freq_factor: 4, original_max_position_embeddings: 8192 }));
      return d;
    },
  },
  {
    name: 'eos outside the vocabulary',
    file: 'config.json',
    fragments: ['eos_token_id 99 is outside the vocabulary'],
    make: () => {
      const d = goodModel();
      editConfig(d, (c) => (c.eos_token_id = [2, 99]));
      return d;
    },
  },
  {
    name: 'eos not an id',
    file: 'config.json',
    fragments: ['key "eos_token_id" must be a token id'],
    make: () => {
      const d = goodModel();
      editConfig(d, (c) => (c.eos_token_id = 'x'));
      return d;
    },
  },
  {
    name: 'qwen2 per-layer sliding window',
    file: 'config.json',
    fragments: ['use_sliding_window'],
    make: () => {
      const d = goodModel({ modelType: 'qwen2' });
      editConfig(d, (c) => (c.use_sliding_window = true));
      return d;
    },
  },
  {
    name: 'generation_config.json invalid',
    file: 'generation_config.json',
    fragments: ['invalid JSON'],
    make: () => {
      const d = goodModel();
      writeFileSync(join(d, 'generation_config.json'), '{"eos_token_id": }');
      return d;
    },
  },
  // --- sharded index ---
  {
    name: 'index names a missing shard',
    file: 'model.safetensors.index.json',
    fragments: ['shard "model-00002-of-00002.safetensors"', 'is missing'],
    make: () => {
      const d = sharded();
      rmSync(join(d, 'model-00002-of-00002.safetensors'));
      return d;
    },
  },
  {
    name: 'index without weight_map',
    file: 'model.safetensors.index.json',
    fragments: ['"weight_map" is missing'],
    make: () => {
      const d = sharded();
      writeFileSync(join(d, 'model.safetensors.index.json'), '{"metadata": {}}');
      return d;
    },
  },
  {
    name: 'index with a path outside the directory',
    file: 'model.safetensors.index.json',
    fragments: ['"../x.safetensors" is not a plain file name'],
    make: () => {
      const d = sharded();
      editIndex(d, (w) => (w['model.norm.weight'] = '../x.safetensors'));
      return d;
    },
  },
  {
    name: 'index lists a tensor under the wrong shard',
    file: 'model-0000',
    fragments: ['"model.norm.weight" is listed under shard'],
    make: () => {
      const d = sharded();
      editIndex(
        d,
        (w) => (w['model.norm.weight'] = w['model.norm.weight'].includes('00001') ? 'model-00002-of-00002.safetensors' : 'model-00001-of-00002.safetensors'),
      );
      return d;
    },
  },
  {
    name: 'shard tensor missing from the index',
    file: 'model-0000',
    fragments: ['"model.norm.weight" is not listed in model.safetensors.index.json'],
    make: () => {
      const d = sharded();
      editIndex(d, (w) => delete w['model.norm.weight']);
      return d;
    },
  },
  {
    name: 'index lists a tensor the shard lacks',
    file: 'model-0000',
    fragments: ['"model.layers.9.mlp.up_proj.weight" is listed in model.safetensors.index.json but missing'],
    make: () => {
      const d = sharded();
      editIndex(d, (w) => (w['model.layers.9.mlp.up_proj.weight'] = 'model-00001-of-00002.safetensors'));
      return d;
    },
  },
];

/** A valid model split into two shards with an index (the single file removed). */
function sharded(extra: object = {}): string {
  const d = goodModel(extra);
  const ts = tensorsOf(d);
  const half = Math.ceil(ts.length / 2);
  const parts = [ts.slice(0, half), ts.slice(half)];
  const weightMap: Record<string, string> = {};
  parts.forEach((p, i) => {
    const f = `model-0000${i + 1}-of-00002.safetensors`;
    writeSafetensorsRaw(join(d, f), p);
    for (const t of p) weightMap[t.name] = f;
  });
  writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
  rmSync(st(d));
  return d;
}

function editIndex(dir: string, edit: (w: Record<string, string>) => void): void {
  const p = join(dir, 'model.safetensors.index.json');
  const j = JSON.parse(readFileSync(p, 'utf8'));
  edit(j.weight_map);
  writeFileSync(p, JSON.stringify(j));
}

describe('malformed model files give E_MODEL naming the file and tensor / key', () => {
  for (const c of cases) {
    it(c.name, () => {
      const dir = c.make();
      let err: { code?: string; message?: string } | undefined;
      try {
        addon.inspectModel(dir);
      } catch (e) {
        err = e as { code: string; message: string };
      }
      expect(err, 'inspectModel must throw').toBeDefined();
      expect(err!.code).toBe('E_MODEL');
      expect(err!.message).toContain(c.file);
      for (const f of c.fragments) expect(err!.message).toContain(f);
      // the process survived; the same file read directly gives the same kind of error when it is a safetensors problem
      if (
        c.file === 'model.safetensors' &&
        c.fragments.some((f) =>
          /header|JSON|dtype|shape x|offsets|overlap|truncated|trailing|short|exceeds|metadata|duplicate|non-negative|before begin|outside/.test(f),
        )
      ) {
        expect(() => addon.inspectSafetensors(st(dir))).toThrow();
      }
      rmSync(dir, { recursive: true, force: true });
    });
  }
});

describe('valid variants load', () => {
  it('a sharded model loads with the same tensors as the single file', () => {
    const single = goodModel();
    const d = sharded();
    const a = addon.inspectModel(single);
    const b = addon.inspectModel(d);
    expect(b.tensors).toEqual(a.tensors);
    expect(b.files.map((f: string) => f.slice(d.length + 1))).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    expect(addon.readModelTensor(d, 'model.norm.weight')).toEqual(addon.readModelTensor(single, 'model.norm.weight'));
  });

  it('a single model.safetensors wins over an index, as transformers prefers it', () => {
    const d = goodModel();
    writeFileSync(join(d, 'model.safetensors.index.json'), 'not json at all');
    expect(addon.inspectModel(d).files).toEqual([st(d)]);
  });

  it('tied model with a stored lm_head and legacy rotary_emb.inv_freq buffers is accepted', () => {
    const d = goodModel();
    const ts = tensorsOf(d);
    const emb = ts.find((t) => t.name === 'model.embed_tokens.weight')!;
    writeSafetensorsRaw(st(d), [
      ...ts,
      { ...emb, name: 'lm_head.weight' },
      { name: 'model.layers.0.self_attn.rotary_emb.inv_freq', dtype: 'F32', shape: [2], bytes: new Uint8Array(8) },
    ]);
    const names = addon.inspectModel(d).tensors.map((t: { name: string }) => t.name);
    expect(names).toContain('lm_head.weight');
    expect(names).not.toContain('model.layers.0.self_attn.rotary_emb.inv_freq');
  });

  it('F16 tensors convert exactly (native reader vs TS reader)', () => {
    const d = goodModel();
    const vals = new Float32Array([0.5, -1.25, 65504, 6.103515625e-5, 5.960464477539063e-8, -0, 1 / 3, 2.5]);
    const halves = new Uint16Array([0x3800, 0xbd00, 0x7bff, 0x0400, 0x0001, 0x8000, 0x3555, 0x4100]);
    writeSafetensorsRaw(
      st(d),
      tensorsOf(d).map((t) => (t.name === 'model.norm.weight' ? { ...t, dtype: 'F16', bytes: new Uint8Array(halves.buffer) } : t)),
    );
    const native = addon.readModelTensor(d, 'model.norm.weight') as Float32Array;
    expect(Array.from(native)).toEqual(Array.from(readSafetensors(st(d)).tensors.get('model.norm.weight')!.data));
    expect(native[0]).toBe(vals[0]);
    expect(native[2]).toBe(65504);
    expect(native[4]).toBe(vals[4]);
    expect(Object.is(native[5], -0)).toBe(true);
    expect(native[6]).toBeCloseTo(0.333251953125, 12);
  });

  it('the native writer produces the same bytes as the TS writer', () => {
    const dir = mkdtempSync(join(tmpdir(), 'peft-w-'));
    mkdirSync(dir, { recursive: true });
    const tensors = {
      'b.weight': { shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
      'a.weight': { shape: [3], data: new Float32Array([0.1, -0.2, 1e-30]) },
      'ü "odd"': { shape: [], data: new Float32Array([7]) },
    };
    const p = join(dir, 'n.safetensors');
    addon.writeSafetensorsF32(
      p,
      Object.entries(tensors).map(([name, t]) => ({ name, ...t })),
    );
    expect(readFileSync(p).equals(encodeSafetensorsF32(tensors))).toBe(true);
    expect(addon.inspectSafetensors(p)).toEqual({
      metadata: { format: 'pt' },
      tensors: [
        { name: 'a.weight', dtype: 'F32', shape: [3] },
        { name: 'b.weight', dtype: 'F32', shape: [2, 3] },
        { name: 'ü "odd"', dtype: 'F32', shape: [] },
      ],
    });
    expect(() => addon.writeSafetensorsF32(p, [{ name: 'x', shape: [2], data: new Float32Array(3) }])).toThrow(/data has 3 values/);
    copyFileSync(p, join(dir, 'copy'));
  });

  it('bad arguments are JS errors, not crashes', () => {
    expect(() => addon.inspectModel()).toThrow(/dir must be a string/);
    expect(() => addon.ropeInvFreq('{}', 4)).toThrow(/model_type/);
    expect(() =>
      addon.ropeInvFreq(
        JSON.stringify({ model_type: 'llama', hidden_size: 8, intermediate_size: 8, num_hidden_layers: 1, num_attention_heads: 2, vocab_size: 4 }),
        -1,
      ),
    ).toThrow(/seqLen/);
    expect(() => addon.inspectSafetensors('/nonexistent/file.safetensors')).toThrow(/cannot open/);
  });
});
