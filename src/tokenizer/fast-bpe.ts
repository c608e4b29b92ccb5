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

/** Returns word → ids, or undefined when the model has options this encoder does not reproduce. */
export function makeBpeWordEncoder(model: BpeConfig): ((word: string) => number[]) | undefined {
  if (model.type !== 'BPE' || !model.vocab || !Array.isArray(model.merges)) return undefined;
  if (model.dropout || model.end_of_word_suffix || model.continuing_subword_prefix || model.continuing_subword_suffix) return undefined;
  const vocab = new Map(Object.entries(model.vocab));
  // Symbols are interned strings (every vocabulary entry and every merge's parts and result); a merge is found by
  // the pair of symbol numbers packed into one Map key, and gives its rank and the merged symbol.
  const symOf = new Map<string, number>();
  const symStr: string[] = [];
  const intern = (str: string): number => {
    let k = symOf.get(str);
    if (k === undefined) {
      k = symStr.length;
      symOf.set(str, k);
      symStr.push(str);
    }
    return k;
  };
  for (const tokenStr of vocab.keys()) intern(tokenStr);
  const merges: [number, number, string][] = model.merges.map((m) => {
    const [a, b] = Array.isArray(m) ? m : (m.split(' ', 2) as [string, string]);
    return [intern(a), intern(b), a + b];
  });
  for (const m of merges) intern(m[2]);
  const S = symStr.length;
  const mergeOf = new Map<number, number>(); // a * S + b → rank * S + merged symbol (the first listed merge wins)
  merges.forEach(([a, b, ab], rank) => {
    const key = a * S + b;
    if (!mergeOf.has(key)) mergeOf.set(key, rank * S + symOf.get(ab)!);
  });
  const symVocab = new Int32Array(S).fill(-1);
  for (const [tokenStr, id] of vocab) symVocab[symOf.get(tokenStr)!] = id;

  const unkId = model.unk_token != null ? vocab.get(model.unk_token) : undefined;
  const byteIds: (number | undefined)[] = [];
  for (let b = 0; b < 256; b++) byteIds.push(vocab.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`));
  const encoder = new TextEncoder();

  const idsOfPiece = (piece: string): number[] => {
    const id = vocab.get(piece);
    if (id !== undefined) return [id];
    if (model.byte_fallback) {
      const bytes = encoder.encode(piece);
      const ids = Array.from(bytes, (x) => byteIds[x]);
      if (ids.every((x) => x !== undefined)) return ids as number[];
    }
    return unkId !== undefined ? [unkId] : [];
  };
  // The ids of a piece that is no vocabulary symbol's (one character outside the vocabulary, as a rule), kept.
  const pieceIds = new Map<string, number[]>();
  const emit = (piece: string, out: number[]) => {
    let ids = pieceIds.get(piece);
    if (!ids) pieceIds.set(piece, (ids = idsOfPiece(piece)));
    for (const id of ids) out.push(id);
  };

  // Merges of a pair of symbols: rank (0x7fffffff: none) and merged symbol. Small symbol sets (up to 2048: 32 MB at
  // most) get dense S × S tables of rank + 1 (0: none) and merged symbol instead of the Map.
  const NONE = 0x7fffffff;
  const dense = S <= 2048;
  const rankTab = dense ? new Int32Array(S * S) : undefined;
  const mergedTab = dense ? new Int32Array(S * S) : undefined;
  if (rankTab && mergedTab)
    for (const [key, value] of mergeOf) {
      rankTab[key] = Math.floor(value / S) + 1;
      mergedTab[key] = value % S;
    }
  const rankOf = rankTab
    ? (a: number, b: number): number => (a < 0 || b < 0 || rankTab[a * S + b] === 0 ? NONE : rankTab[a * S + b] - 1)
    : (a: number, b: number): number => {
        const v = a < 0 || b < 0 ? undefined : mergeOf.get(a * S + b);
        return v === undefined ? NONE : Math.floor(v / S);
      };
  const mergedOf = mergedTab ? (a: number, b: number): number => mergedTab[a * S + b] : (a: number, b: number): number => mergeOf.get(a * S + b)! % S;

  // Working arrays, grown as needed: sym[i] the symbol (-1 for a character that is no symbol: it never merges),
  // at[i] where that character starts in the word (read only for those), pr[i] the rank of the merge of (sym[i],
  // sym[i + 1]) or NONE.
  let symBuf = new Int32Array(64);
  let prBuf = new Int32Array(64);
  let atBuf = new Int32Array(64);
  const bmpSym = new Int32Array(0x10000).fill(-2); // symbol of a BMP character, -1 none, -2 not looked up yet

  return (word: string): number[] => {
    const out: number[] = [];
    if (word.length === 0) return out;
    if (model.ignore_merges && vocab.has(word)) return [vocab.get(word)!];
    if (symBuf.length < word.length + 1) {
      symBuf = new Int32Array(word.length * 2);
      prBuf = new Int32Array(word.length * 2);
      atBuf = new Int32Array(word.length * 2);
    }
    // Locals, not the closure's variables: the loops below keep them in registers.
    const sym = symBuf;
    const pr = prBuf;
    const at = atBuf;
    let n = 0;
    for (let i = 0; i < word.length; n++) {
      const c = word.charCodeAt(i);
      let k: number;
      at[n] = i;
      if (c < 0xd800 || c > 0xdfff) {
        k = bmpSym[c];
        if (k === -2) k = bmpSym[c] = symOf.get(word[i]) ?? -1;
        i++;
      } else {
        const ch = String.fromCodePoint(word.codePointAt(i)!); // a surrogate pair (or a lone surrogate)
        k = symOf.get(ch) ?? -1;
        i += ch.length;
      }
      sym[n] = k;
    }
    for (let i = 0; i + 1 < n; i++) pr[i] = rankOf(sym[i], sym[i + 1]);
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
      sym[m] = mergedOf(sym[m], sym[m + 1]);
      for (let i = m + 1; i + 1 < n; i++) {
        sym[i] = sym[i + 1];
        at[i] = at[i + 1];
      }
      for (let i = m + 1; i + 2 < n; i++) pr[i] = pr[i + 1];
      n--;
      if (m > 0) pr[m - 1] = rankOf(sym[m - 1], sym[m]);
      if (m + 1 < n) pr[m] = rankOf(sym[m], sym[m + 1]);
    }
    for (let i = 0; i < n; i++) {
      const k = sym[i];
      if (k >= 0 && symVocab[k] >= 0) out.push(symVocab[k]);
      else emit(k >= 0 ? symStr[k] : String.fromCodePoint(word.codePointAt(at[i])!), out);
    }
    return out;
  };
}
