// Symmetric eigendecomposition (Householder tridiagonalisation + implicit QL, as in EISPACK tred2/tql2) and the
// best rank-k factorisation of a full matrix through its Gram matrix: O(n³) for n = min(out, in), the fast exact
// route for merges that must form out×in deltas (ties_svd, dare_*_svd, magnitude_prune_svd).
import { mat, type Mat } from '../shared/matrix.ts';

/** Eigenvalues (ascending) and eigenvectors (column j of `vectors`, row-major n×n) of the symmetric matrix `a`. */
export function symmetricEigen(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const V: Float64Array[] = Array.from({ length: n }, (_, i) => Float64Array.from(a.subarray(i * n, (i + 1) * n)));
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  // tred2: reduce to tridiagonal form, accumulating the transformations in V.
  for (let j = 0; j < n; j++) d[j] = V[n - 1][j];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = V[i - 1][j];
        V[i][j] = 0;
        V[j][i] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j];
        V[j][i] = f;
        g = e[j] + V[j][j] * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += V[k][j] * d[k];
          e[k] += V[k][j] * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j];
        g = e[j];
        for (let k = j; k <= i - 1; k++) V[k][j] -= f * e[k] + g * d[k];
        d[j] = V[i - 1][j];
        V[i][j] = 0;
      }
    }
    d[i] = h;
  }
  for (let i = 0; i < n - 1; i++) {
    V[n - 1][i] = V[i][i];
    V[i][i] = 1;
    const h = d[i + 1];
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = V[k][i + 1] / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += V[k][i + 1] * V[k][j];
        for (let k = 0; k <= i; k++) V[k][j] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) V[k][i + 1] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = V[n - 1][j];
    V[n - 1][j] = 0;
  }
  if (n > 0) V[n - 1][n - 1] = 1;
  e[0] = 0;
  // tql2: implicit QL iterations on the tridiagonal matrix.
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  if (n > 0) e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n) {
      if (Math.abs(e[m]) <= eps * tst1) break;
      m++;
    }
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > 300) throw new Error('symmetricEigen: no convergence');
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1];
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          for (let k = 0; k < n; k++) {
            h = V[k][i + 1];
            V[k][i + 1] = s * V[k][i] + c * h;
            V[k][i] = c * V[k][i] - s * h;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }
  const order = [...d.keys()].sort((x, y) => d[x] - d[y]);
  const values = Float64Array.from(order, (i) => d[i]);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    for (let k = 0; k < n; k++) vectors[k * n + dst] = V[k][src];
  });
  return { values, vectors };
}

/**
 * Best rank-k factorisation of a full matrix M (out×in) as B (out×k) · A (k×in), B = U_k·S_k and A = V_kᵀ as
 * PEFT stores an SVD merge. Uses the eigenvectors of the Gram matrix on the smaller side. Also returns all singular values.
 */
export function truncatedSvdOfMatrix(m: Mat, k: number): { newB: Mat; newA: Mat; s: Float64Array } {
  const { rows: out, cols: inF, data } = m;
  const sideIn = inF <= out;
  const n = sideIn ? inF : out;
  const g = new Float64Array(n * n);
  if (sideIn) {
    for (let r = 0; r < out; r++) {
      const row = data.subarray(r * inF, (r + 1) * inF);
      for (let i = 0; i < n; i++) {
        const v = row[i];
        if (v === 0) continue;
        for (let j = i; j < n; j++) g[i * n + j] += v * row[j];
      }
    }
  } else {
    for (let i = 0; i < n; i++) {
      const ri = data.subarray(i * inF, (i + 1) * inF);
      for (let j = i; j < n; j++) {
        const rj = data.subarray(j * inF, (j + 1) * inF);
        let sum = 0;
        for (let c = 0; c < inF; c++) sum += ri[c] * rj[c];
        g[i * n + j] = sum;
      }
    }
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) g[i * n + j] = g[j * n + i];
  const { values, vectors } = symmetricEigen(g, n);
  const s = Float64Array.from({ length: n }, (_, t) => Math.sqrt(Math.max(0, values[n - 1 - t])));
  const newB = mat(out, k);
  const newA = mat(k, inF);
  for (let j = 0; j < Math.min(k, n); j++) {
    const col = n - 1 - j; // eigenvalues ascend
    if (sideIn) {
      // v_j from the Gram of columns: A row = v_jᵀ, B column = M·v_j = σ_j·u_j.
      for (let c = 0; c < inF; c++) newA.data[j * inF + c] = vectors[c * n + col];
      for (let r = 0; r < out; r++) {
        let sum = 0;
        for (let c = 0; c < inF; c++) sum += data[r * inF + c] * vectors[c * n + col];
        newB.data[r * k + j] = sum;
      }
    } else {
      // u_j from the Gram of rows: B column = σ_j·u_j, A row = u_jᵀ·M / σ_j = v_jᵀ.
      const sj = s[j];
      if (!(sj > 0)) continue;
      for (let r = 0; r < out; r++) newB.data[r * k + j] = vectors[r * n + col] * sj;
      for (let c = 0; c < inF; c++) {
        let sum = 0;
        for (let r = 0; r < out; r++) sum += vectors[r * n + col] * data[r * inF + c];
        newA.data[j * inF + c] = sum / sj;
      }
    }
  }
  return { newB, newA, s };
}
