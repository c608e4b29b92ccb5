// The dense float64 matrix that adapter I/O hands to merging and weight diffs: row-major, [rows * cols].

/** A row-major dense matrix. */
export interface Mat {
  rows: number;
  cols: number;
  data: Float64Array; // [rows * cols]
}

export function mat(rows: number, cols: number, data?: Float64Array): Mat {
  return { rows, cols, data: data ?? new Float64Array(rows * cols) };
}
