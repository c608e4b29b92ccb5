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

  const emit = (piece: string, out: number[]) => {
    const id = vocab.get(piece);
    if (id !== undefined) return void out.push(id);
    if (model.byte_fallback) {
      const bytes = encoder.encode(piece);
      const ids = Array.from(bytes, (x) => byteIds[x]);
      if (ids.every((x) => x !== undefined)) return void out.push(...(ids as number[]));
    }
    if (unkId !== undefined) out.push(unkId);
  };

  // Working arrays, grown as needed: sym[i] the symbol (-1 for a character that is no symbol: it never merges),
  // pr[i] the merge (rank * S + merged) of (sym[i], sym[i + 1]) or Infinity, chars[i] that character's text.
  let sym = new Float64Array(64);
  let pr = new Float64Array(64);
  const chars: string[] = [];
  const bmpSym = new Int32Array(0x10000).fill(-2); // symbol of a BMP character, -1 none, -2 not looked up yet
  // Small symbol sets (up to 2048: 16 MB at most) get a dense S × S table of merge + 1 (0: none) instead of the Map.
  const dense = S <= 2048 && merges.length * S < 2 ** 31 ? new Int32Array(S * S) : undefined;
  if (dense) for (const [key, value] of mergeOf) dense[key] = value + 1;
  const mergeValue = dense
    ? (a: number, b: number): number => (a < 0 || b < 0 || dense[a * S + b] === 0 ? Infinity : dense[a * S + b] - 1)
    : (a: number, b: number): number => (a < 0 || b < 0 ? Infinity : (mergeOf.get(a * S + b) ?? Infinity));

  return (word: string): number[] => {
    const out: number[] = [];
    if (word.length === 0) return out;
    if (model.ignore_merges && vocab.has(word)) return [vocab.get(word)!];
    if (sym.length < word.length + 1) {
      sym = new Float64Array(word.length * 2);
      pr = new Float64Array(word.length * 2);
    }
    let n = 0;
    for (let i = 0; i < word.length; n++) {
      const c = word.charCodeAt(i);
      let k: number;
      let ch: string | undefined;
      if (c < 0xd800 || c > 0xdfff) {
        k = bmpSym[c];
        if (k === -2) k = bmpSym[c] = symOf.get(word[i]) ?? -1;
        if (k < 0) ch = word[i];
        i++;
      } else {
        ch = String.fromCodePoint(word.codePointAt(i)!); // a surrogate pair (or a lone surrogate)
        k = symOf.get(ch) ?? -1;
        i += ch.length;
      }
      sym[n] = k;
      if (k < 0) chars[n] = ch!;
    }
    for (let i = 0; i + 1 < n; i++) pr[i] = mergeValue(sym[i], sym[i + 1]);
    // Merge the lowest rank, leftmost first; only the neighbours of a merge are looked up again.
    while (n > 1) {
      let best = Infinity;
      let at = -1;
      for (let i = 0; i + 1 < n; i++)
        if (pr[i] < best) {
          best = pr[i];
          at = i;
        }
      if (at < 0) break;
      sym[at] = best % S;
      for (let i = at + 1; i + 1 < n; i++) {
        sym[i] = sym[i + 1];
        chars[i] = chars[i + 1];
      }
      for (let i = at + 1; i + 2 < n; i++) pr[i] = pr[i + 1];
      n--;
      if (at > 0) pr[at - 1] = mergeValue(sym[at - 1], sym[at]);
      if (at + 1 < n) pr[at] = mergeValue(sym[at], sym[at + 1]);
    }
    for (let i = 0; i < n; i++) {
      const k = sym[i];
      if (k >= 0 && symVocab[k] >= 0) out.push(symVocab[k]);
      else emit(k >= 0 ? symStr[k] : chars[i], out);
    }
    return out;
  };
}
