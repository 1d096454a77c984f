// float64 CPU reference for shaders/matmul.wgsl: out[m, n] = act(op(A) · op(B) + bias) (+ out0 when accumulating).

export interface MatmulRefOptions {
  transA?: boolean;
  transB?: boolean;
  bias?: ArrayLike<number>;
  activation?: 'linear' | 'relu';
  /** The output's previous contents, added when accumulating. */
  accumulateInto?: ArrayLike<number>;
}

export function matmulRef(a: ArrayLike<number>, b: ArrayLike<number>, m: number, n: number, k: number, opts: MatmulRefOptions = {}): Float64Array {
  const { transA = false, transB = false, bias, activation = 'linear', accumulateInto } = opts;
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[transA ? p * m + i : i * k + p]! * b[transB ? j * k + p : p * n + j]!;
      if (bias) s += bias[j]!;
      if (activation === 'relu') s = Math.max(s, 0);
      if (accumulateInto) s += accumulateInto[i * n + j]!;
      out[i * n + j] = s;
    }
  }
  return out;
}
