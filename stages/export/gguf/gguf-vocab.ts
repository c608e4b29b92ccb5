// The tokenizer metadata llama.cpp reads (tokenizer.ggml.*) from a Hugging Face tokenizer.json: SentencePiece-style
// BPE with byte fallback as model "llama" (scores = merge priority), byte-level BPE as model "gpt2" with its merges;
// token types, special ids, add_bos and the chat template; padded to the model's vocab size.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PeftError } from '../../../src/errors.ts';
import { kv, type GgufValue } from './gguf-file.ts';

const NORMAL = 1,
  UNKNOWN = 2,
  CONTROL = 3,
  USER_DEFINED = 4,
  UNUSED = 5,
  BYTE = 6;

interface TokenizerJson {
  model?: { type?: string; vocab?: Record<string, number>; merges?: (string | [string, string])[]; unk_token?: string; byte_fallback?: boolean };
  added_tokens?: { id: number; content: string; special?: boolean }[];
  pre_tokenizer?: { type?: string; pretokenizers?: { type?: string }[] } | null;
}

function readJson(file: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new PeftError('E_MODEL', `${file}: not valid JSON (${(e as Error).message})`, { file });
  }
}

function tokenId(v: unknown, vocab: Record<string, number>): number | undefined {
  if (typeof v === 'string') return vocab[v];
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return vocab[(v as { content: string }).content];
  return undefined;
}

export function ggufVocab(modelDir: string, config: Record<string, unknown>, vocabSize: number): [string, GgufValue][] {
  const file = join(modelDir, 'tokenizer.json');
  if (!existsSync(file)) throw new PeftError('E_MODEL', `${modelDir}: no tokenizer.json; llama.cpp needs the tokenizer inside the GGUF`, { file });
  const tj = readJson(file) as TokenizerJson;
  const model = tj.model;
  if (model?.type !== 'BPE' || !model.vocab)
    throw new PeftError('E_MODEL', `${file}#/model/type: "${model?.type}" tokenizers are not written as GGUF (BPE ones are)`, { file, pointer: '/model/type' });
  const vocab: Record<string, number> = { ...model.vocab };
  const special = new Set<number>();
  const added = new Set<number>();
  for (const t of tj.added_tokens ?? []) {
    vocab[t.content] = t.id;
    added.add(t.id);
    if (t.special) special.add(t.id);
  }
  const n = Math.max(vocabSize, ...Object.values(vocab).map((i) => i + 1));
  if (n > vocabSize)
    throw new PeftError('E_MODEL', `${file}: the tokenizer has ids up to ${n - 1}, but config.json vocab_size is ${vocabSize}`, {
      file,
      hint: 'the tokenizer does not belong to this model',
    });
  const tokens: string[] = new Array(n);
  for (const [t, i] of Object.entries(vocab)) tokens[i] = t;
  const byteLevel = JSON.stringify(tj.pre_tokenizer ?? null).includes('"ByteLevel"');
  const merges = (model.merges ?? []).map((m) => (Array.isArray(m) ? m.join(' ') : m));
  const types: number[] = [];
  const scores: number[] = [];
  const rank = new Map<string, number>();
  if (!byteLevel)
    merges.forEach((m, r) => {
      const merged = m.replace(' ', '');
      if (!rank.has(merged)) rank.set(merged, r);
    });
  for (let i = 0; i < n; i++) {
    if (tokens[i] === undefined) {
      tokens[i] = `[PAD${i}]`;
      types.push(UNUSED);
    } else if (tokens[i] === model.unk_token) types.push(UNKNOWN);
    else if (special.has(i)) types.push(CONTROL);
    else if (added.has(i)) types.push(USER_DEFINED);
    else if (!byteLevel && /^<0x[0-9A-Fa-f]{2}>$/.test(tokens[i])) types.push(BYTE);
    else types.push(NORMAL);
    scores.push(rank.has(tokens[i]) ? -rank.get(tokens[i])! : 0);
  }
  const tc = existsSync(join(modelDir, 'tokenizer_config.json')) ? readJson(join(modelDir, 'tokenizer_config.json')) : {};
  const out: [string, GgufValue][] = [['tokenizer.ggml.model', kv.str(byteLevel ? 'gpt2' : 'llama')]];
  if (byteLevel) out.push(['tokenizer.ggml.pre', kv.str('default')]);
  out.push(['tokenizer.ggml.tokens', kv.strs(tokens)]);
  if (!byteLevel) out.push(['tokenizer.ggml.scores', kv.f32s(scores)]);
  out.push(['tokenizer.ggml.token_type', kv.i32s(types)]);
  if (byteLevel) out.push(['tokenizer.ggml.merges', kv.strs(merges)]);
  const ids: [string, unknown][] = [
    ['bos', config.bos_token_id ?? tokenId(tc.bos_token, vocab)],
    ['eos', Array.isArray(config.eos_token_id) ? config.eos_token_id[0] : (config.eos_token_id ?? tokenId(tc.eos_token, vocab))],
    ['unknown', model.unk_token !== undefined ? vocab[model.unk_token] : tokenId(tc.unk_token, vocab)],
    ['padding', config.pad_token_id ?? tokenId(tc.pad_token, vocab)],
  ];
  for (const [k, v] of ids) if (typeof v === 'number' && v >= 0 && v < n) out.push([`tokenizer.ggml.${k}_token_id`, kv.u32(v)]);
  out.push(['tokenizer.ggml.add_bos_token', kv.bool(typeof tc.add_bos_token === 'boolean' ? tc.add_bos_token : !byteLevel)]);
  out.push(['tokenizer.ggml.add_eos_token', kv.bool(tc.add_eos_token === true)]);
  if (typeof tc.chat_template === 'string') out.push(['tokenizer.chat_template', kv.str(tc.chat_template)]);
  return out;
}
