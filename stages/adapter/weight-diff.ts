// Weight-level diff of two adapter versions: per module the Frobenius norm of s·B·A in each version, of their
// difference and their cosine similarity, computed from the factors (r×r Gram products), never forming out×in.
import type { DiffLine, UpstreamArtifact } from '../../src/stage.ts';
import { readPeftAdapter, type LoraModule } from '../shared/adapter-io.ts';
import type { Mat } from '../shared/matrix.ts';

/** ⟨s1·B1·A1, s2·B2·A2⟩_F = s1·s2·tr((B1ᵀB2)(A2A1ᵀ)). */
export function deltaInner(m1: LoraModule, m2: LoraModule): number {
  const b1: Mat = m1.b,
    b2: Mat = m2.b,
    a1: Mat = m1.a,
    a2: Mat = m2.a;
  const r1 = b1.cols,
    r2 = b2.cols,
    out = b1.rows,
    inn = a1.cols;
  const M = new Float64Array(r1 * r2); // B1ᵀB2
  for (let o = 0; o < out; o++)
    for (let i = 0; i < r1; i++) {
      const x = b1.data[o * r1 + i];
      if (x === 0) continue;
      for (let j = 0; j < r2; j++) M[i * r2 + j] += x * b2.data[o * r2 + j];
    }
  let tr = 0;
  for (let i = 0; i < r1; i++)
    for (let j = 0; j < r2; j++) {
      const m = M[i * r2 + j];
      if (m === 0) continue;
      let n = 0; // (A2A1ᵀ)[j][i]
      for (let k = 0; k < inn; k++) n += a2.data[j * inn + k] * a1.data[i * inn + k];
      tr += m * n;
    }
  return m1.scaling * m2.scaling * tr;
}

export interface ModuleDiff {
  module: string;
  normA: number;
  normB: number;
  normDiff: number;
  cosine: number | null;
}

/** Per-module norms of two PEFT adapter directories (modules missing on one side count as zero there). */
export function moduleDiffs(dirA: string, dirB: string): ModuleDiff[] {
  const a = readPeftAdapter(dirA).modules;
  const b = readPeftAdapter(dirB).modules;
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort((x, y) => x.localeCompare(y, 'en', { numeric: true }));
  return keys.map((k) => {
    const ma = a.get(k);
    const mb = b.get(k);
    const aa = ma ? deltaInner(ma, ma) : 0;
    const bb = mb ? deltaInner(mb, mb) : 0;
    const ab = ma && mb ? deltaInner(ma, mb) : 0;
    const normA = Math.sqrt(Math.max(0, aa));
    const normB = Math.sqrt(Math.max(0, bb));
    return {
      module: k.replace(/^base_model\.model\.(model\.)?/, ''),
      normA,
      normB,
      normDiff: Math.sqrt(Math.max(0, aa + bb - 2 * ab)),
      cosine: normA > 0 && normB > 0 ? ab / (normA * normB) : null,
    };
  });
}

const f = (x: number) => x.toPrecision(4);

export async function adapterDiff(a: UpstreamArtifact, b: UpstreamArtifact): Promise<DiffLine[]> {
  const va = `v${a.version}`;
  const vb = `v${b.version}`;
  const rows = moduleDiffs(a.dir, b.dir);
  const lines: DiffLine[] = rows.map((r) => ({
    section: 'weights',
    text: `${r.module}: |s·BA| ${va} ${f(r.normA)}  ${vb} ${f(r.normB)}  |${vb}−${va}| ${f(r.normDiff)}  cos ${r.cosine === null ? 'n/a' : r.cosine.toFixed(4)}`,
    data: { ...r },
  }));
  const tot = (k: 'normA' | 'normB' | 'normDiff') => Math.sqrt(rows.reduce((s, r) => s + r[k] ** 2, 0));
  lines.push({
    section: 'weights',
    text: `all ${rows.length} modules: |s·BA| ${va} ${f(tot('normA'))}  ${vb} ${f(tot('normB'))}  |${vb}−${va}| ${f(tot('normDiff'))}`,
    data: { modules: rows.length, normA: tot('normA'), normB: tot('normB'), normDiff: tot('normDiff') },
  });
  return lines;
}
