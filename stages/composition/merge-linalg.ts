// Dense float64 linear algebra for adapter merging: row-major matrices, thin Householder QR, a one-sided Jacobi
// SVD for small matrices, and the truncated SVD of a product B·A computed without forming it (QR of both factors,
// SVD of the small core), so a merge never builds an out×in matrix.
import { mat, type Mat } from '../shared/matrix.ts';

/** C = A · B. */
export function matmul(a: Mat, b: Mat): Mat {
  if (a.cols !== b.rows) throw new Error(`matmul: ${a.rows}x${a.cols} · ${b.rows}x${b.cols}`);
  const c = mat(a.rows, b.cols);
  const n = b.cols;
  for (let i = 0; i < a.rows; i++) {
    const ci = i * n;
    for (let k = 0; k < a.cols; k++) {
      const v = a.data[i * a.cols + k];
      if (v === 0) continue;
      const bk = k * n;
      for (let j = 0; j < n; j++) c.data[ci + j] += v * b.data[bk + j];
    }
  }
  return c;
}

export function transpose(a: Mat): Mat {
  const t = mat(a.cols, a.rows);
  for (let i = 0; i < a.rows; i++) for (let j = 0; j < a.cols; j++) t.data[j * a.rows + i] = a.data[i * a.cols + j];
  return t;
}

/**
 * Thin QR by Householder reflections: A (m×n) = Q (m×k) · R (k×n), k = min(m, n), Q with orthonormal columns.
 */
export function qr(a: Mat): { q: Mat; r: Mat } {
  const m = a.rows;
  const n = a.cols;
  const k = Math.min(m, n);
  const w = Float64Array.from(a.data); // working copy, becomes R in its upper triangle
  const vs: Float64Array[] = [];
  for (let j = 0; j < k; j++) {
    let norm = 0;
    for (let i = j; i < m; i++) norm += w[i * n + j] ** 2;
    norm = Math.sqrt(norm);
    const v = new Float64Array(m - j);
    if (norm === 0) {
      vs.push(v); // zero reflector: identity
      continue;
    }
    const x0 = w[j * n + j];
    const alpha = x0 >= 0 ? -norm : norm;
    for (let i = j; i < m; i++) v[i - j] = w[i * n + j];
    v[0] -= alpha;
    let vn = 0;
    for (let i = 0; i < v.length; i++) vn += v[i] * v[i];
    vn = Math.sqrt(vn);
    if (vn === 0) {
      vs.push(new Float64Array(m - j));
      continue;
    }
    for (let i = 0; i < v.length; i++) v[i] /= vn;
    // W[j:, j:] -= 2 v (vᵀ W[j:, j:])
    for (let c = j; c < n; c++) {
      let dot = 0;
      for (let i = j; i < m; i++) dot += v[i - j] * w[i * n + c];
      dot *= 2;
      for (let i = j; i < m; i++) w[i * n + c] -= dot * v[i - j];
    }
    vs.push(v);
  }
  const r = mat(k, n);
  for (let i = 0; i < k; i++) for (let c = i; c < n; c++) r.data[i * n + c] = w[i * n + c];
  // Q = H_0 H_1 ... H_{k-1} applied to the first k columns of the identity.
  const q = mat(m, k);
  for (let i = 0; i < k; i++) q.data[i * k + i] = 1;
  for (let j = k - 1; j >= 0; j--) {
    const v = vs[j];
    for (let c = 0; c < k; c++) {
      let dot = 0;
      for (let i = j; i < m; i++) dot += v[i - j] * q.data[i * k + c];
      if (dot === 0) continue;
      dot *= 2;
      for (let i = j; i < m; i++) q.data[i * k + c] -= dot * v[i - j];
    }
  }
  return { q, r };
}

/**
 * SVD of a small matrix by one-sided (Hestenes) Jacobi rotations: M (p×q) = U·diag(s)·Vᵀ with s descending.
 * Returns `us` = U·diag(s) (p×k) and `v` (q×k), k = min(p, q), so zero singular values need no normalised U column.
 */
export function jacobiSvd(m: Mat, maxSweeps = 60): { us: Mat; s: Float64Array; v: Mat } {
  if (m.rows < m.cols) {
    const t = jacobiSvd(transpose(m), maxSweeps);
    // Mᵀ = U' S V'ᵀ  =>  M = V' S U'ᵀ: us = V'·S, v = U' = us'/s
    const k = t.s.length;
    const us = mat(m.rows, k);
    const v = mat(m.cols, k);
    for (let j = 0; j < k; j++) {
      const sj = t.s[j];
      for (let i = 0; i < m.rows; i++) us.data[i * k + j] = t.v.data[i * k + j] * sj;
      for (let i = 0; i < m.cols; i++) v.data[i * k + j] = sj > 0 ? t.us.data[i * k + j] / sj : 0;
    }
    return { us, s: t.s, v };
  }
  const p = m.rows;
  const q = m.cols;
  const u = Float64Array.from(m.data); // columns rotate towards orthogonality
  const vv = new Float64Array(q * q);
  for (let i = 0; i < q; i++) vv[i * q + i] = 1;
  const eps = 1e-15;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let rotated = false;
    for (let i = 0; i < q - 1; i++) {
      for (let j = i + 1; j < q; j++) {
        let a = 0;
        let b = 0;
        let g = 0;
        for (let r = 0; r < p; r++) {
          const x = u[r * q + i];
          const y = u[r * q + j];
          a += x * x;
          b += y * y;
          g += x * y;
        }
        if (g === 0 || Math.abs(g) <= eps * Math.sqrt(a * b)) continue;
        rotated = true;
        const zeta = (b - a) / (2 * g);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let r = 0; r < p; r++) {
          const x = u[r * q + i];
          const y = u[r * q + j];
          u[r * q + i] = c * x - s * y;
          u[r * q + j] = s * x + c * y;
        }
        for (let r = 0; r < q; r++) {
          const x = vv[r * q + i];
          const y = vv[r * q + j];
          vv[r * q + i] = c * x - s * y;
          vv[r * q + j] = s * x + c * y;
        }
      }
    }
    if (!rotated) break;
  }
  const norms = new Float64Array(q);
  for (let j = 0; j < q; j++) {
    let n2 = 0;
    for (let r = 0; r < p; r++) n2 += u[r * q + j] ** 2;
    norms[j] = Math.sqrt(n2);
  }
  const order = [...norms.keys()].sort((x, y) => norms[y] - norms[x] || x - y);
  const us = mat(p, q);
  const v = mat(q, q);
  const s = new Float64Array(q);
  order.forEach((src, dst) => {
    s[dst] = norms[src];
    for (let r = 0; r < p; r++) us.data[r * q + dst] = u[r * q + src];
    for (let r = 0; r < q; r++) v.data[r * q + dst] = vv[r * q + src];
  });
  return { us, s, v };
}

/**
 * Best rank-`k` factorisation of B·A (B: out×R, A: R×in) without forming the product:
 * B = Qb·Rb, Aᵀ = Qa·Ra, core = Rb·Raᵀ = U·S·Vᵀ, so B·A = (Qb·U·S)·(Qa·V)ᵀ.
 * Returns newB (out×k) = Qb·U_k·S_k, newA (k×in) = (Qa·V_k)ᵀ and all singular values of B·A.
 */
export function truncatedSvdOfProduct(b: Mat, a: Mat, k: number): { newB: Mat; newA: Mat; s: Float64Array } {
  if (b.cols !== a.rows) throw new Error(`truncatedSvdOfProduct: ${b.rows}x${b.cols} · ${a.rows}x${a.cols}`);
  const qb = qr(b);
  const qa = qr(transpose(a));
  const core = matmul(qb.r, transpose(qa.r)); // kb × ka
  const { us, s, v } = jacobiSvd(core);
  const rank = s.length;
  const kk = Math.min(k, rank);
  const usK = mat(us.rows, k);
  const vK = mat(v.rows, k);
  for (let i = 0; i < us.rows; i++) for (let j = 0; j < kk; j++) usK.data[i * k + j] = us.data[i * rank + j];
  for (let i = 0; i < v.rows; i++) for (let j = 0; j < kk; j++) vK.data[i * k + j] = v.data[i * rank + j];
  return { newB: matmul(qb.q, usK), newA: transpose(matmul(qa.q, vK)), s };
}
