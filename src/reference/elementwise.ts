// float64 CPU references for shaders/elementwise.wgsl and shaders/reduce.wgsl.

export function axpbyRef(a: ArrayLike<number>, b: ArrayLike<number>, alpha: number, beta: number): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = alpha * a[i]! + beta * b[i]!;
  return out;
}

export function columnSumRef(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c] += x[r * cols + c]!;
  return out;
}

export function rowSumRef(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r] += x[r * cols + c]!;
  return out;
}
