// The dense linear algebra behind svd merges: Householder QR, one-sided Jacobi SVD, the factor-only truncated SVD
// of B·A, the symmetric eigensolver and the Gram-based truncated SVD, each checked against its defining identities
// and against singular values from an independent Jacobi eigen routine.
import { describe, expect, it } from 'vitest';
import { symmetricEigen, truncatedSvdOfMatrix } from '../../../stages/composition/merge-eigen.ts';
import { jacobiSvd, matmul, qr, transpose, truncatedSvdOfProduct } from '../../../stages/composition/merge-linalg.ts';
import { mat, type Mat } from '../../../stages/shared/matrix.ts';
import { addScaled, frob, maxAbsDiff, rng, singularValues } from './merge-helpers.ts';

function random(rows: number, cols: number, seed: number): Mat {
  const next = rng(seed);
  return mat(rows, cols, Float64Array.from({ length: rows * cols }, next));
}

function identityError(q: Mat): number {
  const g = matmul(transpose(q), q);
  let e = 0;
  for (let i = 0; i < g.rows; i++) for (let j = 0; j < g.cols; j++) e = Math.max(e, Math.abs(g.data[i * g.cols + j] - (i === j ? 1 : 0)));
  return e;
}

describe('merge linear algebra', () => {
  it('QR: Q has orthonormal columns, R is upper triangular, Q·R = A (tall and wide)', () => {
    for (const [m, n] of [
      [40, 7],
      [7, 40],
      [12, 12],
    ]) {
      const a = random(m, n, m * 100 + n);
      const { q, r } = qr(a);
      expect([q.rows, q.cols, r.rows, r.cols]).toEqual([m, Math.min(m, n), Math.min(m, n), n]);
      expect(identityError(q)).toBeLessThan(1e-13);
      for (let i = 0; i < r.rows; i++) for (let j = 0; j < Math.min(i, n); j++) expect(r.data[i * n + j]).toBe(0);
      expect(maxAbsDiff(matmul(q, r).data, a.data)).toBeLessThan(1e-13);
    }
  });

  it('Jacobi SVD: U·S·Vᵀ = M, V orthonormal, singular values descending and equal to the reference', () => {
    for (const [m, n] of [
      [20, 9],
      [9, 20],
    ]) {
      const a = random(m, n, 7 + m);
      const { us, s, v } = jacobiSvd(a);
      expect(maxAbsDiff(matmul(us, transpose(v)).data, a.data)).toBeLessThan(1e-12);
      expect(identityError(v)).toBeLessThan(1e-12);
      const ref = m >= n ? singularValues(a.data, m, n) : singularValues(transpose(a).data, n, m);
      expect(maxAbsDiff(Array.from(s), ref.slice(0, s.length))).toBeLessThan(1e-10);
      for (let i = 1; i < s.length; i++) expect(s[i]).toBeLessThanOrEqual(s[i - 1]);
    }
  });

  it('truncated SVD of B·A from the factors: exact at full rank, optimal error below it', () => {
    const b = random(50, 6, 1);
    const a = random(6, 30, 2);
    const full = matmul(b, a);
    const sv = singularValues(full.data, 50, 30);
    for (const k of [6, 8, 3, 1]) {
      const { newB, newA } = truncatedSvdOfProduct(b, a, k);
      expect([newB.rows, newB.cols, newA.rows, newA.cols]).toEqual([50, k, k, 30]);
      // Compared squared: the reference's σ of a rank-6 matrix come from eigenvalues of the Gram matrix, whose
      // zero eigenvalues carry ~1e-14 noise that a square root would inflate to ~1e-7.
      const err2 = frob(addScaled(Float64Array.from(matmul(newB, newA).data), full.data, -1)) ** 2;
      const dropped2 = sv.slice(k).reduce((t, x) => t + x * x, 0);
      expect(Math.abs(err2 - dropped2)).toBeLessThan(1e-12 * frob(full.data) ** 2);
      if (k >= 6) expect(err2).toBeLessThan(1e-24 * frob(full.data) ** 2);
    }
  });

  it('symmetric eigen: G·v = λ·v with orthonormal vectors, ascending values', () => {
    const n = 25;
    const x = random(n, n, 5);
    const g = matmul(transpose(x), x);
    const { values, vectors } = symmetricEigen(g.data, n);
    const vm = mat(n, n, vectors);
    expect(identityError(vm)).toBeLessThan(1e-12);
    const gv = matmul(g, vm);
    for (let j = 0; j < n; j++) for (let i = 0; i < n; i++) expect(Math.abs(gv.data[i * n + j] - values[j] * vectors[i * n + j])).toBeLessThan(1e-10);
    for (let i = 1; i < n; i++) expect(values[i]).toBeGreaterThanOrEqual(values[i - 1]);
  });

  it('Gram-based truncated SVD of a full matrix: error = sqrt(dropped σ²) on both shapes', () => {
    for (const [m, n] of [
      [60, 24],
      [24, 60],
    ]) {
      const a = random(m, n, m + 3 * n);
      const sv = m >= n ? singularValues(a.data, m, n) : singularValues(transpose(a).data, n, m);
      for (const k of [24, 10, 2]) {
        const { newB, newA, s } = truncatedSvdOfMatrix(a, k);
        expect(maxAbsDiff(Array.from(s), sv)).toBeLessThan(1e-10);
        const err = frob(addScaled(Float64Array.from(matmul(newB, newA).data), a.data, -1));
        const dropped = Math.sqrt(sv.slice(k).reduce((t, x) => t + x * x, 0));
        expect(Math.abs(err - dropped)).toBeLessThan(1e-9 * frob(a.data));
      }
    }
  });
});
