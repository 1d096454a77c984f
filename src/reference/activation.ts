// float64 CPU references for shaders/activation.wgsl. x, y viewed as [rows, cols]; softmax is row-wise.
import type { ActivationName } from '../layers/layer.js';

export function activationForwardRef(kind: ActivationName, x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const y = new Float64Array(rows * cols);
  if (kind === 'softmax') {
    for (let r = 0; r < rows; r++) {
      const b = r * cols;
      let m = -Infinity;
      for (let j = 0; j < cols; j++) m = Math.max(m, x[b + j]!);
      let s = 0;
      for (let j = 0; j < cols; j++) s += (y[b + j] = Math.exp(x[b + j]! - m));
      for (let j = 0; j < cols; j++) y[b + j]! /= s;
    }
    return y;
  }
  for (let i = 0; i < y.length; i++) {
    const v = x[i]!;
    y[i] = kind === 'relu' ? Math.max(v, 0) : kind === 'sigmoid' ? 1 / (1 + Math.exp(-v)) : kind === 'tanh' ? Math.tanh(v) : v;
  }
  return y;
}

/** dx from the output y and the incoming gradient dy (the closed forms the kernels use). */
export function activationBackwardRef(kind: ActivationName, y: ArrayLike<number>, dy: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const dx = new Float64Array(rows * cols);
  if (kind === 'softmax') {
    for (let r = 0; r < rows; r++) {
      const b = r * cols;
      let s = 0;
      for (let j = 0; j < cols; j++) s += dy[b + j]! * y[b + j]!;
      for (let j = 0; j < cols; j++) dx[b + j] = y[b + j]! * (dy[b + j]! - s);
    }
    return dx;
  }
  for (let i = 0; i < dx.length; i++) {
    const v = y[i]!, g = dy[i]!;
    dx[i] = kind === 'relu' ? (v > 0 ? g : 0) : kind === 'sigmoid' ? g * v * (1 - v) : kind === 'tanh' ? g * (1 - v * v) : g;
  }
  return dx;
}

/**
 * Central-difference gradient of f(x) = Σ dy · act(x) on the float64 forward: each element of x is moved by ±h
 * (the softmax row is recomputed, so cross terms are included).
 */
export function activationNumericGradRef(kind: ActivationName, x: ArrayLike<number>, dy: ArrayLike<number>, rows: number, cols: number, h = 1e-5): Float64Array {
  const g = new Float64Array(rows * cols);
  const xr = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const b = r * cols;
    for (let j = 0; j < cols; j++) xr[j] = x[b + j]!;
    const f = (): number => {
      const y = activationForwardRef(kind, xr, 1, cols);
      let s = 0;
      for (let j = 0; j < cols; j++) s += dy[b + j]! * y[j]!;
      return s;
    };
    for (let j = 0; j < cols; j++) {
      const v = xr[j]!;
      xr[j] = v + h;
      const fp = f();
      xr[j] = v - h;
      const fm = f();
      xr[j] = v;
      g[b + j] = (fp - fm) / (2 * h);
    }
  }
  return g;
}
