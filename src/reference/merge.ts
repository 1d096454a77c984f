// float64 CPU references for shaders/merge.wgsl and the merge layers (Add, Multiply, Concatenate).

/** Elementwise sum of the inputs. */
export function addRef(xs: readonly ArrayLike<number>[]): Float64Array {
  const out = new Float64Array(xs[0]!.length);
  for (const x of xs) for (let i = 0; i < out.length; i++) out[i] += x[i]!;
  return out;
}

/** Elementwise product of the inputs. */
export function multiplyRef(xs: readonly ArrayLike<number>[]): Float64Array {
  const out = new Float64Array(xs[0]!.length).fill(1);
  for (const x of xs) for (let i = 0; i < out.length; i++) out[i] *= x[i]!;
  return out;
}

/** Concatenation along the last axis: input k is `rows` rows of cols[k] values. */
export function concatenateRef(xs: readonly ArrayLike<number>[], rows: number, cols: readonly number[]): Float64Array {
  const total = cols.reduce((a, b) => a + b, 0);
  const out = new Float64Array(rows * total);
  let off = 0;
  xs.forEach((x, k) => {
    const c = cols[k]!;
    for (let r = 0; r < rows; r++) for (let j = 0; j < c; j++) out[r * total + off + j] = x[r * c + j]!;
    off += c;
  });
  return out;
}

/** dst[r, dstOff + c] = src[r, srcOff + c] (copyColumns' twin), on a copy of dst. */
export function copyColumnsRef(
  src: ArrayLike<number>, dst: ArrayLike<number>, g: { rows: number; cols: number; srcCols: number; srcOff: number; dstCols: number; dstOff: number },
): Float64Array {
  const out = Float64Array.from(dst);
  for (let r = 0; r < g.rows; r++) for (let c = 0; c < g.cols; c++) out[r * g.dstCols + g.dstOff + c] = src[r * g.srcCols + g.srcOff + c]!;
  return out;
}
