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
  const ranks = new Map<string, Map<string, number>>();
  model.merges.forEach((m, i) => {
    const [a, b] = Array.isArray(m) ? m : (m.split(' ', 2) as [string, string]);
    let inner = ranks.get(a);
    if (!inner) ranks.set(a, (inner = new Map()));
    if (!inner.has(b)) inner.set(b, i);
  });
  const unkId = model.unk_token != null ? vocab.get(model.unk_token) : undefined;
  const byteIds: (number | undefined)[] = [];
  for (let b = 0; b < 256; b++) byteIds.push(vocab.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`));
  const encoder = new TextEncoder();
  const rank = (a: string, b: string): number => ranks.get(a)?.get(b) ?? Infinity;

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

  return (word: string): number[] => {
    const out: number[] = [];
    if (word.length === 0) return out;
    if (model.ignore_merges && vocab.has(word)) return [vocab.get(word)!];
    const sym = Array.from(word);
    // pr[i]: merge rank of the pair (sym[i], sym[i + 1]); only the neighbours of a merge are looked up again.
    const pr: number[] = [];
    for (let i = 0; i + 1 < sym.length; i++) pr.push(rank(sym[i], sym[i + 1]));
    for (;;) {
      let best = Infinity;
      let at = -1;
      for (let i = 0; i < pr.length; i++)
        if (pr[i] < best) {
          best = pr[i];
          at = i;
        }
      if (at < 0) break;
      sym.splice(at, 2, sym[at] + sym[at + 1]);
      pr.splice(at, 1);
      if (at > 0) pr[at - 1] = rank(sym[at - 1], sym[at]);
      if (at < pr.length) pr[at] = rank(sym[at], sym[at + 1]);
    }
    for (const s of sym) emit(s, out);
    return out;
  };
}
