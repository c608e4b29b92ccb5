// Merges PEFT LoRA adapters into one PEFT adapter with the semantics of PEFT 0.13's add_weighted_adapter
// (cat, linear, svd, ties, dare_linear, dare_ties, magnitude_prune and the *_svd variants), written atomically.
//
// ## Merge methods (copy for the README)
// Notation: adapter i has factors A_i [r_i, in], B_i [out, r_i], PEFT scaling s_i = lora_alpha_i / r_i
// (lora_alpha_i / sqrt(r_i) with use_rslora), user weight w_i, so its delta is ΔW_i = s_i · B_i · A_i.
// Every merged adapter is written with lora_alpha = r (scaling 1, use_rslora false), targets the union of the
// inputs' modules, and per module only the adapters that target it take part.
// - `cat` (exact): r = Σ r_i; A = [w_1·s_1·A_1 ; w_2·s_2·A_2 ; …] stacked as rows, B = [B_1 | B_2 | …] side by
//   side, so ΔW = Σ w_i·s_i·B_i·A_i exactly. Where fewer adapters target a module, their blocks come first and
//   the remaining rows of A / columns of B are zero (as PEFT). Any weights, any ranks.
// - `linear`: needs equal ranks r; A = Σ √(w_i·s_i)·A_i and B = Σ √(w_i·s_i)·B_i (PEFT's task arithmetic on each
//   factor). ΔW = (Σ√c_i B_i)(Σ√c_i A_i): equal to Σ c_i·B_i·A_i only for one adapter — the cross terms
//   √(c_i c_j)·B_i·A_j remain. w_i·s_i must be ≥ 0 (PEFT takes the square root).
// - `ties`, `dare_linear`, `dare_ties`, `magnitude_prune`: like `linear` (same ranks, same √(w_i·s_i) weights, on
//   A and B separately), but each A_i / B_i is first sparsified to `density`:
//   magnitude (ties, magnitude_prune): keep the floor(density·n) entries of largest |x|;
//   random (dare_*): keep each entry with probability density and divide kept ones by density (seeded by `seed`,
//   per module, factor and adapter, so results do not depend on order). ties / dare_ties then elect a sign per
//   entry on the pruned, unweighted tensors (`majoritySignMethod` "total": sign of the sum, "frequency": the
//   more common sign; ties → +) and average the weighted entries that agree with it (disjoint merge).
// - `svd`: ΔW = Σ w_i·s_i·B_i·A_i, then its best rank-k approximation (k = `svdRank`, default max r_i) by a
//   truncated SVD: B = U_k·S_k, A = V_kᵀ. Computed exactly without forming ΔW: QR of the stacked factors
//   [w_i s_i B_i] and [A_i]ᵀ and a Jacobi SVD of the small Σr×Σr core. Its error is √(Σ dropped σ²) in the
//   Frobenius norm; with k ≥ Σ r_i it is exact. NOTE: PEFT 0.13 multiplies by s_i twice here (weight·scaling times
//   get_delta_weight, which already holds s_i); set `peftSvdScaling: true` to reproduce that (w_i·s_i²).
// - `ties_svd`, `dare_linear_svd`, `dare_ties_svd`, `magnitude_prune_svd`: the element-wise method above applied
//   to the full deltas s_i·B_i·A_i with weights w_i (PEFT: w_i·s_i with `peftSvdScaling`), then truncated SVD to
//   rank k. These must form out×in matrices per module; the SVD goes through the Gram matrix of the smaller side
//   (Householder tridiagonalisation + implicit QL), O(min(out,in)³) per module.
// With a single adapter PEFT always uses `linear`; so does this merge. svd_clamp is not supported.
import { PeftError } from '../../src/errors.ts';
import { readPeftAdapter, writePeftAdapter, type LoraModule, type PeftAdapter } from '../shared/adapter-io.ts';
import { truncatedSvdOfMatrix } from './merge-eigen.ts';
import { mat, type Mat } from '../shared/matrix.ts';
import { matmul, truncatedSvdOfProduct } from './merge-linalg.ts';
import { magnitudePrune, randomPrune, seededUniform, tiesMerge, weightedSum, type MajoritySignMethod } from './merge-tensor-ops.ts';

export const MERGE_METHODS = [
  'cat',
  'linear',
  'svd',
  'ties',
  'dare_linear',
  'dare_ties',
  'magnitude_prune',
  'ties_svd',
  'dare_linear_svd',
  'dare_ties_svd',
  'magnitude_prune_svd',
] as const;
export type MergeMethod = (typeof MERGE_METHODS)[number];

export interface MergeOptions {
  method: MergeMethod;
  /** svd family: target rank (default: the largest input rank). */
  svdRank?: number;
  /** ties / dare / magnitude_prune families: fraction of entries kept, in [0, 1]. */
  density?: number;
  /** dare family: seed of the random masks (default 0). */
  seed?: number;
  majoritySignMethod?: MajoritySignMethod;
  /** Reproduce PEFT 0.13's svd-family scaling (w_i·s_i applied to deltas that already include s_i). */
  peftSvdScaling?: boolean;
}

export interface MergeInput {
  /** A loaded adapter or its directory. */
  adapter: PeftAdapter | string;
  weight: number;
  /** For messages (default: the directory). */
  name?: string;
}

export interface MergedAdapter {
  method: MergeMethod; // the method actually used (linear for a single adapter)
  r: number;
  config: Record<string, unknown>;
  modules: { key: string; a: Mat; b: Mat }[];
}

const LINEAR_FAMILY = new Set<MergeMethod>(['linear', 'ties', 'dare_linear', 'dare_ties', 'magnitude_prune']);

function fail(msg: string, hint?: string, extra: Record<string, unknown> = {}): never {
  throw new PeftError('E_ADAPTER', msg, { hint, ...extra });
}

/** Applies one element-wise family operator (the base name without _svd) to tensors xs with weights w. */
function combine(base: string, xs: Float64Array[], w: number[], opts: MergeOptions, streams: string[]): Float64Array {
  const density = opts.density ?? 1;
  const sign = opts.majoritySignMethod ?? 'total';
  const seed = opts.seed ?? 0;
  switch (base) {
    case 'linear':
    case 'svd':
      return weightedSum(xs, w);
    case 'magnitude_prune':
      return weightedSum(
        xs.map((x) => magnitudePrune(x, density)),
        w,
      );
    case 'ties':
      return tiesMerge(
        xs.map((x) => magnitudePrune(x, density)),
        w,
        sign,
      );
    case 'dare_linear':
      return weightedSum(
        xs.map((x, t) => randomPrune(x, density, seededUniform(seed, streams[t]))),
        w,
      );
    case 'dare_ties':
      return tiesMerge(
        xs.map((x, t) => randomPrune(x, density, seededUniform(seed, streams[t]))),
        w,
        sign,
      );
    default:
      throw new PeftError('E_INTERNAL', `unknown merge operator ${base}`);
  }
}

function checkOptions(method: MergeMethod, opts: MergeOptions, inputs: { weight: number; name: string }[]): void {
  if (!MERGE_METHODS.includes(method)) fail(`unknown merge method "${method}"`, `use one of ${MERGE_METHODS.join(', ')}`);
  for (const i of inputs) if (!Number.isFinite(i.weight)) fail(`adapter ${i.name}: weight must be a finite number (got ${i.weight})`);
  const needsDensity = method !== 'cat' && method !== 'linear' && method !== 'svd';
  if (needsDensity) {
    if (opts.density === undefined)
      fail(`merge method "${method}" needs a density (the fraction of entries kept, 0 to 1)`, 'add "density": 0.5 (for example) to the composition');
    if (!(opts.density >= 0 && opts.density <= 1)) fail(`density must be between 0 and 1 (got ${opts.density})`);
  }
  if (opts.seed !== undefined && !Number.isInteger(opts.seed)) fail(`seed must be an integer (got ${opts.seed})`);
  if (opts.svdRank !== undefined && !(Number.isInteger(opts.svdRank) && opts.svdRank > 0)) fail(`svdRank must be a positive integer (got ${opts.svdRank})`);
}

/** Checks that every module the adapters share has the same in/out shape (same base model). */
function checkSharedModules(adapters: { adapter: PeftAdapter; name: string }[]): string[] {
  const shape = new Map<string, { in: number; out: number; name: string }>();
  for (const { adapter, name } of adapters) {
    for (const m of adapter.modules.values()) {
      const s = shape.get(m.key);
      if (!s) shape.set(m.key, { in: m.a.cols, out: m.b.rows, name });
      else if (s.in !== m.a.cols || s.out !== m.b.rows) {
        fail(
          `adapters ${s.name} and ${name} disagree on module "${m.key}": [out ${s.out}, in ${s.in}] vs [out ${m.b.rows}, in ${m.a.cols}]; they were trained on different base models`,
          'merge only adapters of the same base model',
          { module: m.key },
        );
      }
    }
  }
  return [...shape.keys()].sort();
}

function targetModuleNames(adapters: PeftAdapter[]): string[] | string {
  const sets = adapters.map((a) => a.config.target_modules);
  if (sets.every((t) => typeof t === 'string')) return sets.map((t) => `(${t})`).join('|'); // PEFT joins regexes
  const names = new Set<string>();
  for (const t of sets) if (Array.isArray(t)) t.forEach((x) => names.add(String(x)));
  for (const a of adapters) for (const k of a.modules.keys()) names.add(k.split('.').pop()!);
  return [...names].sort();
}

/** Merges adapters (in memory); see the method notes at the top of this file. */
export function mergeAdapters(inputs: MergeInput[], options: MergeOptions): MergedAdapter {
  if (inputs.length === 0) fail('merge needs at least one adapter');
  const loaded = inputs.map((i) => {
    const adapter = typeof i.adapter === 'string' ? readPeftAdapter(i.adapter) : i.adapter;
    return { adapter, weight: i.weight, name: i.name ?? adapter.dir };
  });
  const method: MergeMethod = loaded.length === 1 ? 'linear' : options.method;
  checkOptions(options.method, options, loaded);
  const keys = checkSharedModules(loaded);
  const ranks = loaded.map((l) => l.adapter.r);
  let r: number;
  if (method === 'cat') r = ranks.reduce((x, y) => x + y, 0);
  else if (LINEAR_FAMILY.has(method)) {
    if (new Set(ranks).size !== 1) {
      fail(
        `merge method "${method}" needs adapters of equal rank; got ${loaded.map((l) => `${l.name} r=${l.adapter.r}`).join(', ')}`,
        'use "cat" (exact, rank = sum) or "svd" (to a chosen rank) for adapters of different ranks',
      );
    }
    r = ranks[0];
  } else r = options.svdRank ?? Math.max(...ranks);

  const modules: MergedAdapter['modules'] = [];
  for (const key of keys) {
    const present = loaded.map((l, index) => ({ ...l, index, m: l.adapter.modules.get(key) as LoraModule })).filter((p) => p.m !== undefined);
    const out = present[0].m.b.rows;
    const inF = present[0].m.a.cols;
    if (method === 'cat') {
      const a = mat(r, inF);
      const b = mat(out, r);
      let row = 0;
      for (const p of present) {
        const c = p.weight * p.m.scaling;
        for (let i = 0; i < p.m.a.rows; i++) for (let j = 0; j < inF; j++) a.data[(row + i) * inF + j] = c * p.m.a.data[i * inF + j];
        for (let i = 0; i < out; i++) for (let j = 0; j < p.m.b.cols; j++) b.data[i * r + row + j] = p.m.b.data[i * p.m.b.cols + j];
        row += p.m.a.rows;
      }
      modules.push({ key, a, b });
    } else if (LINEAR_FAMILY.has(method)) {
      const w = present.map((p) => {
        const c = p.weight * p.m.scaling;
        if (c < 0)
          fail(
            `merge method "${method}" takes √(weight × scaling), but adapter ${p.name} has weight ${p.weight} × scaling ${p.m.scaling} < 0 on "${key}"`,
            'use "cat" or "svd" for negative weights',
          );
        return Math.sqrt(c);
      });
      const idx = present.map((p) => p.index);
      const a = combine(
        method,
        present.map((p) => p.m.a.data),
        w,
        options,
        idx.map((i) => `${key}/lora_A/${i}`),
      );
      const b = combine(
        method,
        present.map((p) => p.m.b.data),
        w,
        options,
        idx.map((i) => `${key}/lora_B/${i}`),
      );
      modules.push({ key, a: mat(r, inF, a), b: mat(out, r, b) });
    } else if (method === 'svd') {
      // Stack [c_i·B_i] and [A_i]: B_stack·A_stack = Σ c_i·B_i·A_i.
      const R = present.reduce((s, p) => s + p.m.a.rows, 0);
      const bs = mat(out, R);
      const as = mat(R, inF);
      let col = 0;
      for (const p of present) {
        const c = p.weight * p.m.scaling * (options.peftSvdScaling ? p.m.scaling : 1);
        const rr = p.m.a.rows;
        for (let i = 0; i < out; i++) for (let j = 0; j < rr; j++) bs.data[i * R + col + j] = c * p.m.b.data[i * rr + j];
        as.data.set(p.m.a.data, col * inF);
        col += rr;
      }
      const { newB, newA } = truncatedSvdOfProduct(bs, as, r);
      modules.push({ key, a: newA, b: newB });
    } else {
      // Element-wise family on full deltas, then a full SVD truncated to rank r.
      const deltas = present.map((p) => {
        const d = matmul(p.m.b, p.m.a).data;
        for (let i = 0; i < d.length; i++) d[i] *= p.m.scaling;
        return d;
      });
      const w = present.map((p) => p.weight * (options.peftSvdScaling ? p.m.scaling : 1));
      const idx = present.map((p) => p.index);
      const delta = combine(
        method.replace(/_svd$/, ''),
        deltas,
        w,
        options,
        idx.map((i) => `${key}/delta/${i}`),
      );
      const { newB, newA } = truncatedSvdOfMatrix(mat(out, inF, delta), r);
      const a = newA;
      const b = newB;
      modules.push({ key, a, b });
    }
  }

  const first = loaded[0].adapter.config;
  const config: Record<string, unknown> = {
    ...first,
    r,
    lora_alpha: r,
    use_rslora: false,
    rank_pattern: {},
    alpha_pattern: {},
    target_modules: targetModuleNames(loaded.map((l) => l.adapter)),
  };
  return { method, r, config, modules };
}

/** Merges adapter directories and writes the result as a PEFT adapter directory (weights, then config; each atomic). */
export function mergeAdapterDirs(inputs: MergeInput[], outDir: string, options: MergeOptions): MergedAdapter {
  const merged = mergeAdapters(inputs, options);
  writePeftAdapter(outDir, merged.config, merged.modules);
  return merged;
}
