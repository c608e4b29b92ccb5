// The one reader of a model's tokenizer (tokenizer.json + tokenizer_config.json, through @huggingface/tokenizers), for
// dataset preparation, training, evals, generate and serve: the special tokens, the chat template, and a word-cached
// fast encode path that gives the library's exact ids (checked in tests) at dataset-preprocessing speed.
// One BOS rule, as transformers applies it: a plain text encoded with `special` is wrapped in the ids the tokenizer's
// post-processor puts around a sequence (BOS for Llama), with tokenizer_config's add_bos_token / add_eos_token
// overriding it; a text rendered by a chat template is encoded without specials (the template writes its own BOS).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { PeftError } from '../errors.ts';
import { compileChatTemplate, pickChatTemplate, type ChatTemplate } from './chat-template.ts';
import { makeBpeWordEncoder, type WordEncoder } from './fast-bpe.ts';
import { IdBuffer } from './id-buffer.ts';
import { SpaceWordEncoder } from './space-word-encoder.ts';
import { SpmDecoder, spmPieces, type FlatPieces } from './spm-decoder.ts';
import { textAddon, type SpaceWordsHandle } from '../util/text-addon.ts';

export interface ModelTokenizer {
  dir: string;
  bosId: number | undefined;
  eosId: number | undefined;
  bosToken: string | undefined;
  eosToken: string | undefined;
  /** Special ids the tokenizer puts before / after a sequence (e.g. [BOS] / []), as its post-processor does. */
  prefixIds: number[];
  suffixIds: number[];
  /** Chat template of tokenizer_config.json, if it has one. */
  chatTemplate: ChatTemplate | undefined;
  /** Ids of `text`; with `special`, wrapped in prefixIds / suffixIds (the BOS rule above; say which: there is no default). */
  encode(text: string, opts: { special: boolean }): number[];
  /** Appends the ids of `text` (no specials) to `out`: encode without a JS array per call. */
  encodeTo(text: string, out: IdBuffer): void;
  /**
   * encodeTo of each text (no specials) into `out`, for many texts at once (one native call where the peft_text addon
   * is built and the tokenizer is SentencePiece-style): ends[i] the end of text i's ids in `out`. `joined`: texts.join(''),
   * where the caller has it already.
   */
  encodeEachTo?(texts: readonly string[], out: IdBuffer, ends: Int32Array, joined?: string): void;
  /** Ids of `text` as it continues an already-tokenized sequence (no prefix-space marker, no specials). */
  encodeContinuation(text: string): number[];
  /** Text of `ids`; `skipSpecial` drops special tokens (generated text) or keeps them (dataset records). */
  decode(ids: ArrayLike<number>, opts: { skipSpecial: boolean }): string;
  /**
   * The UTF-8 bytes of decode(ids) — with `json`, of JSON.stringify(decode(ids)) without its quotes — as a view valid
   * until the next call, where the tokenizer has a byte-level decoder (its text is well-formed UTF-16, so these bytes
   * are exactly that string's UTF-8); absent otherwise.
   */
  decodeUtf8?: (ids: ArrayLike<number>, opts?: { skipSpecial?: boolean; json?: boolean }) => Uint8Array;
  /** The byte-level decoder's pieces for JSON output (decodeUtf8 with json, as tables: see spm-decoder.ts); absent where decodeUtf8 is. */
  jsonPieces?: () => FlatPieces;
  idToToken(id: number): string | undefined;
  tokenToId(token: string): number | undefined;
}

function readJson(file: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new PeftError('E_MODEL', `${file}: cannot read JSON (${(err as Error).message})`, { file });
  }
}

function tokenContent(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** config.json's model_type of a model directory ('' when absent or unreadable: the tokenizer alone decides). */
function modelTypeOf(dir: string): string {
  try {
    const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { model_type?: unknown };
    return typeof c.model_type === 'string' ? c.model_type : '';
  } catch {
    return '';
  }
}

/** Loads the tokenizer of the HF model directory `dir` (tokenizer.json required, tokenizer_config.json optional). */
export function loadModelTokenizer(dir: string): ModelTokenizer {
  const tjFile = join(dir, 'tokenizer.json');
  if (!existsSync(tjFile))
    throw new PeftError('E_MODEL', `${dir}: no tokenizer.json; text needs the model's tokenizer`, {
      file: tjFile,
      hint: 'use a model directory in Hugging Face layout with tokenizer.json and tokenizer_config.json (generate and score also take token ids: --prompt-ids / --ids)',
    });
  const cfgFile = join(dir, 'tokenizer_config.json');
  const tj = readJson(tjFile);
  const cfg = existsSync(cfgFile) ? readJson(cfgFile) : {};
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(tj, cfg);
  } catch (err) {
    throw new PeftError('E_MODEL', `${tjFile}: tokenizer not supported (${(err as Error).message})`, { file: tjFile });
  }
  const bosToken = tokenContent(cfg.bos_token);
  const eosToken = tokenContent(cfg.eos_token);
  const bosId = bosToken === undefined ? undefined : tok.token_to_id(bosToken);
  const eosId = eosToken === undefined ? undefined : tok.token_to_id(eosToken);

  const libEncode = (text: string, special: boolean): number[] => tok.encode(text, { add_special_tokens: special }).ids;
  // What the post-processor adds around a sequence, found by difference; tokenizer_config's add_bos/eos_token override.
  const probe = 'a';
  const bare = libEncode(probe, false);
  const full = libEncode(probe, true);
  let start = 0;
  while (start < full.length && full[start] !== bare[0]) start++;
  let prefixIds: number[] = full.slice(0, start);
  let suffixIds: number[] = full.slice(start + bare.length);
  if (cfg.add_bos_token === true && bosId !== undefined && !prefixIds.includes(bosId)) prefixIds = [bosId, ...prefixIds];
  if (cfg.add_bos_token === false && bosId !== undefined) prefixIds = prefixIds.filter((id) => id !== bosId);
  // GPT-2 models (config.json model_type gpt2) never start with BOS: GPT-2 / DialoGPT tokenizers add none, and the
  // models were trained without one; a tokenizer that would prepend it (a post-processor) is overruled here.
  if (modelTypeOf(dir) === 'gpt2' && bosId !== undefined) prefixIds = prefixIds.filter((id) => id !== bosId);
  if (cfg.add_eos_token === true && eosId !== undefined && !suffixIds.includes(eosId)) suffixIds = [...suffixIds, eosId];
  if (cfg.add_eos_token === false && eosId !== undefined) suffixIds = suffixIds.filter((id) => id !== eosId);

  const templateSource = pickChatTemplate(cfg.chat_template);
  const fields: TokenizerFields = {
    dir,
    bosId,
    eosId,
    bosToken,
    eosToken,
    prefixIds,
    suffixIds,
    chatTemplate: templateSource ? compileChatTemplate(templateSource, { bos_token: bosToken, eos_token: eosToken }, cfgFile) : undefined,
  };
  const fast = makeFastEncoder(tok, tj);
  const fastDecode = makeFastDecoder(tok, tj);
  return fastDecode ? new ByteDecodingTokenizer(fields, tok, fast, fastDecode) : new LoadedTokenizer(fields, tok, fast, undefined);
}

type TokenizerFields = Pick<ModelTokenizer, 'dir' | 'bosId' | 'eosId' | 'bosToken' | 'eosToken' | 'prefixIds' | 'suffixIds' | 'chatTemplate'>;

/**
 * A loaded tokenizer. Classes, not an object of closures: every tokenizer loaded in a process runs the same methods,
 * so code optimized while one was used is not thrown away ("wrong call target") when the next one is loaded.
 */
class LoadedTokenizer implements ModelTokenizer {
  readonly dir: string;
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  readonly bosToken: string | undefined;
  readonly eosToken: string | undefined;
  readonly prefixIds: number[];
  readonly suffixIds: number[];
  readonly chatTemplate: ChatTemplate | undefined;
  private readonly scratch = new IdBuffer();
  private readonly contProbe = '\n';
  private readonly contProbeIds: number[];

  constructor(
    fields: TokenizerFields,
    private readonly tok: Tokenizer,
    private readonly fast: FastEncoder | undefined,
    protected readonly fastDecode: SpmDecoder | undefined,
  ) {
    this.dir = fields.dir;
    this.bosId = fields.bosId;
    this.eosId = fields.eosId;
    this.bosToken = fields.bosToken;
    this.eosToken = fields.eosToken;
    this.prefixIds = fields.prefixIds;
    this.suffixIds = fields.suffixIds;
    this.chatTemplate = fields.chatTemplate;
    this.contProbeIds = this.plain(this.contProbe);
  }

  /** Ids of `text` without specials. */
  private plain(text: string): number[] {
    if (!this.fast) return this.tok.encode(text, { add_special_tokens: false }).ids;
    this.scratch.length = 0;
    this.fast.encodeTo(text, this.scratch);
    return this.scratch.toArray();
  }

  encode(text: string, opts: { special: boolean }): number[] {
    const ids = this.plain(text);
    return opts.special ? [...this.prefixIds, ...ids, ...this.suffixIds] : ids;
  }

  encodeTo(text: string, out: IdBuffer): void {
    if (this.fast) this.fast.encodeTo(text, out);
    else out.pushArray(this.tok.encode(text, { add_special_tokens: false }).ids);
  }

  encodeEachTo(texts: readonly string[], out: IdBuffer, ends: Int32Array, joined?: string): void {
    if (this.fast) return this.fast.encodeEachTo(texts, out, ends, joined);
    texts.forEach((t, k) => {
      this.encodeTo(t, out);
      ends[k] = out.length;
    });
  }

  encodeContinuation(text: string): number[] {
    if (text === '') return [];
    const ids = this.plain(this.contProbe + text);
    const n = this.contProbeIds.length;
    for (let i = 0; i < n; i++) if (ids[i] !== this.contProbeIds[i]) return this.plain(text); // the probe merged with the text
    return ids.slice(n);
  }

  decode(ids: ArrayLike<number>, opts: { skipSpecial: boolean }): string {
    const skip = opts.skipSpecial;
    return this.fastDecode ? this.fastDecode.decode(ids, skip) : this.tok.decode(Array.from(ids), { skip_special_tokens: skip });
  }

  idToToken(id: number): string | undefined {
    return this.tok.id_to_token(id);
  }

  tokenToId(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }
}

/** A tokenizer with the byte-level decoder: it has decodeUtf8. */
class ByteDecodingTokenizer extends LoadedTokenizer {
  declare protected readonly fastDecode: SpmDecoder;

  decodeUtf8(ids: ArrayLike<number>, opts?: { skipSpecial?: boolean; json?: boolean }): Uint8Array {
    return this.fastDecode.decodeUtf8(ids, opts?.skipSpecial ?? false, opts?.json ?? false);
  }

  jsonPieces(): FlatPieces {
    return this.fastDecode.jsonTables();
  }
}

interface TokenizerInternals {
  normalizer: ((text: string) => string) | null;
  pre_tokenizer: ((text: string, opts: { section_index: number }) => string[]) | null;
  model: ((pieces: string[]) => string[]) & { tokens_to_ids: Map<string, number>; vocab: string[]; unk_token_id?: number };
  remove_space?: boolean;
  do_lowercase_and_remove_accent?: boolean;
  get_added_tokens_decoder(): Map<number, { content: string; special?: boolean }>;
}

const SP = '\u2581'; // "▁", SentencePiece's space marker

/** tokenizer.json's normalizer is exactly Sequence[Prepend "▁", Replace " " → "▁"] (Llama / SentencePiece "legacy"). */
function isSpmPrependNormalizer(n: unknown): boolean {
  const seq = n as { type?: string; normalizers?: { type?: string; prepend?: string; pattern?: { String?: string }; content?: string }[] } | null;
  if (seq?.type !== 'Sequence' || seq.normalizers?.length !== 2) return false;
  const [a, b] = seq.normalizers;
  return a.type === 'Prepend' && a.prepend === SP && b.type === 'Replace' && b.pattern?.String === ' ' && b.content === SP;
}

/**
 * The library's encode_text without special tokens, with the model's output cached per word: normalize once, split
 * into words (the pre-tokenizer's, or before each "▁" for SentencePiece-style tokenizers whose vocabulary has no token
 * with "▁" after another character, where BPE can never merge across that point), and run BPE once per distinct word
 * (with fast-bpe.ts where it applies). Returns undefined where that equivalence cannot be guaranteed.
 */
function makeFastEncoder(tok: Tokenizer, tj: Record<string, unknown>): FastEncoder | undefined {
  const t = tok as unknown as TokenizerInternals;
  if (t.remove_space || t.do_lowercase_and_remove_accent) return undefined;
  const model = tj.model as { type?: string; fuse_unk?: boolean; byte_fallback?: boolean } | undefined;
  const modelType = model?.type;
  if (modelType !== 'BPE' && modelType !== 'WordPiece' && modelType !== 'Unigram') return undefined;
  if (model!.fuse_unk && !model!.byte_fallback) return undefined; // unknowns fused across words: only the library knows
  const added = [...t.get_added_tokens_decoder().values()].map((a) => a.content).filter((c) => c.length > 0);
  const addedRe = added.length
    ? new RegExp(
        added
          .sort((a, b) => b.length - a.length)
          .map(escapeRe)
          .join('|'),
      )
    : undefined;

  const ids = t.model.tokens_to_ids;
  const unk = t.model.unk_token_id;
  const wordEncoder: WordEncoder = makeBpeWordEncoder(tj.model as never) ?? { encode: (word) => t.model([word]).map((tk) => ids.get(tk) ?? unk ?? 0) };

  let split: (normalized: string) => string[];
  let spaceWords: SpaceWordEncoder | undefined;
  if (t.pre_tokenizer) {
    const pre = t.pre_tokenizer;
    split = (s) => pre(s, { section_index: 0 });
  } else {
    if (modelType !== 'BPE') return undefined;
    if (t.model.vocab.some((v) => v !== undefined && /[^\u2581]\u2581/.test(v))) return undefined;
    split = (s) => s.split(/(?<=[^\u2581])(?=\u2581)/);
    // Prepend + Replace, then the split before each "▁": done straight on the raw text's spaces.
    if (isSpmPrependNormalizer(tj.normalizer)) spaceWords = new SpaceWordEncoder(wordEncoder);
  }
  return new FastEncoder(tok, wordEncoder, addedRe, added, split, spaceWords);
}

/** makeFastEncoder's encoder (a class: every loaded tokenizer runs the same, already optimized, methods). */
class FastEncoder {
  private cache = new Map<string, number[]>();
  private native: SpaceWordsHandle | null | undefined; // spaceWords' native twin (peft_text), made on first use
  // The added-token regex runs only on texts holding the first character of some added token (usually just "<").
  private readonly addedFirst: string[];

  constructor(
    private readonly tok: Tokenizer,
    private readonly words: WordEncoder,
    private readonly addedRe: RegExp | undefined,
    added: string[],
    private readonly split: (normalized: string) => string[],
    private readonly spaceWords: SpaceWordEncoder | undefined,
  ) {
    this.addedFirst = [...new Set(added.map((a) => String.fromCodePoint(a.codePointAt(0)!)))];
  }

  private mayHoldAdded(text: string): boolean {
    for (const ch of this.addedFirst) if (text.includes(ch)) return this.addedRe!.test(text);
    return false;
  }

  private encodeWord(word: string, out: IdBuffer): void {
    let wordIds = this.cache.get(word);
    if (!wordIds) {
      wordIds = this.words.encode(word);
      if (this.cache.size > 500_000) this.cache = new Map();
      this.cache.set(word, wordIds);
    }
    out.pushArray(wordIds);
  }

  private lib(text: string, out: IdBuffer): void {
    out.pushArray(this.tok.encode(text, { add_special_tokens: false }).ids);
  }

  encodeTo(text: string, out: IdBuffer): void {
    if (text === '') return;
    if (this.addedRe && this.mayHoldAdded(text)) return this.lib(text, out); // special tokens inside the text: the library splits them
    if (this.spaceWords && !text.includes(SP)) return this.spaceWords.encodeTo(text, out);
    const t = this.tok as unknown as TokenizerInternals;
    const normalized = t.normalizer ? t.normalizer(text) : text;
    if (normalized === '') return;
    if (this.addedRe && this.mayHoldAdded(normalized)) return this.lib(text, out);
    for (const word of this.split(normalized)) if (word !== '') this.encodeWord(word, out);
  }

  /** Whether encodeTo(text) is spaceWords.encodeTo(text). */
  private spaceWordsText(text: string): boolean {
    return !(this.addedRe && this.mayHoldAdded(text)) && !text.includes(SP);
  }

  /**
   * encodeTo of each text: the runs of texts spaceWords would encode go to its native twin in one call each (the
   * peft_text addon: the same word split and cache in C++, BPE on a miss through this.words), the rest to encodeTo.
   */
  encodeEachTo(texts: readonly string[], out: IdBuffer, ends: Int32Array, joined?: string): void {
    const addon = this.spaceWords ? textAddon() : undefined;
    if (addon && this.native === undefined) this.native = addon.spaceWords((word) => this.words.encode(word), 1 << 19);
    for (let k = 0; k < texts.length; ) {
      if (!addon || !this.spaceWordsText(texts[k])) {
        this.encodeTo(texts[k], out);
        ends[k++] = out.length;
        continue;
      }
      const first = k;
      while (k < texts.length && this.spaceWordsText(texts[k])) k++;
      const textEnds = new Int32Array(k - first);
      for (let j = first, c = 0; j < k; j++) textEnds[j - first] = c += texts[j].length;
      const text = first === 0 && k === texts.length ? (joined ?? texts.join('')) : texts.slice(first, k).join('');
      const idEnds = ends.subarray(first, k);
      const count = addon.spaceWordsEncode(this.native!, text, textEnds, idEnds);
      out.reserve(count);
      addon.spaceWordsTake(this.native!, out.data, out.length);
      for (let j = 0; j < idEnds.length; j++) idEnds[j] += out.length;
      out.length += count;
    }
  }
}

/** The fast decoder for the SentencePiece decoder Sequence (see spm-decoder.ts); undefined for other decoders (the library decodes those). */
function makeFastDecoder(tok: Tokenizer, tj: Record<string, unknown>): SpmDecoder | undefined {
  const d = tj.decoder as { type?: string; decoders?: Record<string, unknown>[] } | null;
  const expected = JSON.stringify([
    { type: 'Replace', pattern: { String: SP }, content: ' ' },
    { type: 'ByteFallback' },
    { type: 'Fuse' },
    { type: 'Strip', content: ' ', start: 1, stop: 0 },
  ]);
  if (d?.type !== 'Sequence' || JSON.stringify(d.decoders) !== expected) return undefined;
  if ((tj as { added_tokens?: { normalized?: boolean; special?: boolean }[] }).added_tokens?.some((a) => !a.special)) return undefined;
  const t = tok as unknown as TokenizerInternals;
  const added = t.get_added_tokens_decoder();
  return SpmDecoder.fromPieces(spmPieces(t.model.vocab, added), new Set(added.keys()));
}
