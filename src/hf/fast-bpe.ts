// A BPE word encoder with the semantics of @huggingface/tokenizers' BPE model (merge the lowest-rank adjacent pair,
// leftmost first, over code points; byte fallback / unk for pieces outside the vocabulary), but with a two-level
// rank table instead of JSON-stringified pair keys. Only for configurations it reproduces exactly (tests compare).

interface BpeConfig {
  type?: string;
  vocab?: Record<string, number>;
  merges?: (string | [string, string])[];
  unk_token?: string | null;
  byte_fallback?: boolean;
  ignore_merges?: boolean;
  dropout?: number | null;
  end_of_word_suffix?: string | null;
  continuing_subword_prefix?: string | null;
  continuing_subword_suffix?: string | null;
}

/** Word → ids: what SpaceWordEncoder and the fast encode path cache per word. */
export interface WordEncoder {
  encode(word: string): number[];
}

const NONE = 0x7fffffff; // no merge of a pair

/** The BPE word encoder of `model`, or undefined when the model has options this encoder does not reproduce. */
export function makeBpeWordEncoder(model: BpeConfig): BpeWordEncoder | undefined {
  if (model.type !== 'BPE' || !model.vocab || !Array.isArray(model.merges)) return undefined;
  if (model.dropout || model.end_of_word_suffix || model.continuing_subword_prefix || model.continuing_subword_suffix) return undefined;
  return new BpeWordEncoder(model as BpeConfig & { vocab: Record<string, number>; merges: (string | [string, string])[] });
}

/**
 * A class, not closures: every tokenizer loaded in a process runs the same methods, so code optimized for one is
 * not thrown away ("wrong call target") when the next one is loaded.
 */
export class BpeWordEncoder implements WordEncoder {
  private readonly vocab: Map<string, number>;
  // Symbols are interned strings (every vocabulary entry and every merge's parts and result); a merge is found by
  // the pair of symbol numbers packed into one Map key, and gives its rank and the merged symbol.
  private readonly symOf = new Map<string, number>();
  private readonly symStr: string[] = [];
  private readonly S: number;
  private readonly mergeOf = new Map<number, number>(); // a * S + b → rank * S + merged symbol (the first listed merge wins)
  // Small symbol sets (up to 2048: 32 MB at most) get dense S × S tables of rank + 1 (0: none) and merged symbol
  // instead of the Map.
  private readonly rankTab: Int32Array | undefined;
  private readonly mergedTab: Int32Array | undefined;
  private readonly symVocab: Int32Array;
  private readonly unkId: number | undefined;
  private readonly byteIds: (number | undefined)[] = [];
  private readonly byteFallback: boolean;
  private readonly ignoreMerges: boolean;
  private readonly encoder = new TextEncoder();
  // The ids of a piece that is no vocabulary symbol's (one character outside the vocabulary, as a rule), kept.
  private readonly pieceIds = new Map<string, number[]>();
  // Working arrays, grown as needed: sym[i] the symbol (-1 for a character that is no symbol: it never merges),
  // at[i] where that character starts in the word (read only for those), pr[i] the rank of the merge of (sym[i],
  // sym[i + 1]) or NONE.
  private symBuf = new Int32Array(64);
  private prBuf = new Int32Array(64);
  private atBuf = new Int32Array(64);
  private readonly bmpSym = new Int32Array(0x10000).fill(-2); // symbol of a BMP character, -1 none, -2 not looked up yet

  constructor(model: BpeConfig & { vocab: Record<string, number>; merges: (string | [string, string])[] }) {
    this.vocab = new Map(Object.entries(model.vocab));
    for (const tokenStr of this.vocab.keys()) this.intern(tokenStr);
    const merges: [number, number, string][] = model.merges.map((m) => {
      const [a, b] = Array.isArray(m) ? m : (m.split(' ', 2) as [string, string]);
      return [this.intern(a), this.intern(b), a + b];
    });
    for (const m of merges) this.intern(m[2]);
    const S = (this.S = this.symStr.length);
    merges.forEach(([a, b, ab], rank) => {
      const key = a * S + b;
      if (!this.mergeOf.has(key)) this.mergeOf.set(key, rank * S + this.symOf.get(ab)!);
    });
    if (S <= 2048) {
      const rankTab = (this.rankTab = new Int32Array(S * S));
      const mergedTab = (this.mergedTab = new Int32Array(S * S));
      for (const [key, value] of this.mergeOf) {
        rankTab[key] = Math.floor(value / S) + 1;
        mergedTab[key] = value % S;
      }
    }
    this.symVocab = new Int32Array(S).fill(-1);
    for (const [tokenStr, id] of this.vocab) this.symVocab[this.symOf.get(tokenStr)!] = id;
    this.unkId = model.unk_token != null ? this.vocab.get(model.unk_token) : undefined;
    for (let b = 0; b < 256; b++) this.byteIds.push(this.vocab.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`));
    this.byteFallback = !!model.byte_fallback;
    this.ignoreMerges = !!model.ignore_merges;
  }

  private intern(str: string): number {
    let k = this.symOf.get(str);
    if (k === undefined) {
      k = this.symStr.length;
      this.symOf.set(str, k);
      this.symStr.push(str);
    }
    return k;
  }

  /** Rank of the merge of symbols a, b (NONE: none; a character that is no symbol, -1, merges with nothing). */
  private rankOf(a: number, b: number): number {
    if (a < 0 || b < 0) return NONE;
    const key = a * this.S + b;
    const tab = this.rankTab;
    if (tab) return tab[key] === 0 ? NONE : tab[key] - 1;
    const v = this.mergeOf.get(key);
    return v === undefined ? NONE : Math.floor(v / this.S);
  }

  private mergedOf(a: number, b: number): number {
    const key = a * this.S + b;
    return this.mergedTab ? this.mergedTab[key] : this.mergeOf.get(key)! % this.S;
  }

  private idsOfPiece(piece: string): number[] {
    const id = this.vocab.get(piece);
    if (id !== undefined) return [id];
    if (this.byteFallback) {
      const ids = Array.from(this.encoder.encode(piece), (x) => this.byteIds[x]);
      if (ids.every((x) => x !== undefined)) return ids as number[];
    }
    return this.unkId !== undefined ? [this.unkId] : [];
  }

  private emit(piece: string, out: number[]): void {
    let ids = this.pieceIds.get(piece);
    if (!ids) this.pieceIds.set(piece, (ids = this.idsOfPiece(piece)));
    for (const id of ids) out.push(id);
  }

  encode(word: string): number[] {
    const out: number[] = [];
    if (word.length === 0) return out;
    if (this.ignoreMerges && this.vocab.has(word)) return [this.vocab.get(word)!];
    if (this.symBuf.length < word.length + 1) {
      this.symBuf = new Int32Array(word.length * 2);
      this.prBuf = new Int32Array(word.length * 2);
      this.atBuf = new Int32Array(word.length * 2);
    }
    // Locals, not fields: the loops below keep them in registers.
    const sym = this.symBuf;
    const pr = this.prBuf;
    const at = this.atBuf;
    const bmpSym = this.bmpSym;
    let n = 0;
    for (let i = 0; i < word.length; n++) {
      const c = word.charCodeAt(i);
      let k: number;
      at[n] = i;
      if (c < 0xd800 || c > 0xdfff) {
        k = bmpSym[c];
        if (k === -2) k = bmpSym[c] = this.symOf.get(word[i]) ?? -1;
        i++;
      } else {
        const ch = String.fromCodePoint(word.codePointAt(i)!); // a surrogate pair (or a lone surrogate)
        k = this.symOf.get(ch) ?? -1;
        i += ch.length;
      }
      sym[n] = k;
    }
    for (let i = 0; i + 1 < n; i++) pr[i] = this.rankOf(sym[i], sym[i + 1]);
    // Merge the lowest rank, leftmost first; only the neighbours of a merge are looked up again.
    while (n > 1) {
      let best = NONE;
      let m = -1;
      for (let i = 0; i + 1 < n; i++)
        if (pr[i] < best) {
          best = pr[i];
          m = i;
        }
      if (m < 0) break;
      sym[m] = this.mergedOf(sym[m], sym[m + 1]);
      for (let i = m + 1; i + 1 < n; i++) {
        sym[i] = sym[i + 1];
        at[i] = at[i + 1];
      }
      for (let i = m + 1; i + 2 < n; i++) pr[i] = pr[i + 1];
      n--;
      if (m > 0) pr[m - 1] = this.rankOf(sym[m - 1], sym[m]);
      if (m + 1 < n) pr[m] = this.rankOf(sym[m], sym[m + 1]);
    }
    const symVocab = this.symVocab;
    for (let i = 0; i < n; i++) {
      const k = sym[i];
      if (k >= 0 && symVocab[k] >= 0) out.push(symVocab[k]);
      else this.emit(k >= 0 ? this.symStr[k] : String.fromCodePoint(word.codePointAt(at[i])!), out);
    }
    return out;
  }
}
