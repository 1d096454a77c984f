// float64 CPU references for shaders/activation.wgsl. x, y viewed as [rows, cols]; softmax is row-wise.
import type { ActivationName } from '../layers/layer.js';

const SELU_ALPHA = 1.6732632423543772848170429916717;
const SELU_SCALE = 1.0507009873554804934193349852946;

/**
 * erf in float64: the Maclaurin series below |x| = 3 (terms alternate; the largest is < 2^7, so about 1e-14
 * absolute), the continued fraction of erfc (modified Lentz, to 1e-16) above.
 */
export function erfRef(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  if (a < 3) {
    let term = a, sum = a;
    for (let k = 1; k < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); k++) {
      term *= (-a * a) / k;
      sum += term / (2 * k + 1);
    }
    return Math.sign(x) * Math.min(1, (2 / Math.sqrt(Math.PI)) * sum);
  }
  // erfc(a) = exp(-a²)/√π · 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + 2/(a + ...)))))
  const tiny = 1e-300;
  let f = a, c = a, d = 0;
  for (let k = 1; k < 500; k++) {
    const an = k / 2;
    d = a + an * d;
    d = Math.abs(d) < tiny ? tiny : d;
    c = a + an / c;
    c = Math.abs(c) < tiny ? tiny : c;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-a * a) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

const sigmoidRef = (v: number): number => 1 / (1 + Math.exp(-v));

/** One element of every elementwise kind (alpha: leaky_relu's slope, elu's alpha). */
export function activationValueRef(kind: ActivationName, v: number, alpha = defaultAlphaRef(kind)): number {
  switch (kind) {
    case 'relu': return Math.max(v, 0);
    case 'sigmoid': return sigmoidRef(v);
    case 'tanh': return Math.tanh(v);
    case 'leaky_relu': return v < 0 ? alpha * v : v;
    case 'elu': return v < 0 ? alpha * Math.expm1(v) : v;
    case 'selu': return SELU_SCALE * (v < 0 ? SELU_ALPHA * Math.expm1(v) : v);
    case 'gelu': return 0.5 * v * (1 + erfRef(v / Math.SQRT2));
    case 'swish': case 'silu': return v * sigmoidRef(v);
    case 'softplus': return Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)));
    case 'hard_sigmoid': return Math.min(1, Math.max(0, 0.2 * v + 0.5));
    default: return v;
  }
}

/** leaky_relu's 0.2 (Keras 3) and elu's 1, as the kernels default them. */
function defaultAlphaRef(kind: ActivationName): number {
  return kind === 'leaky_relu' ? 0.2 : kind === 'elu' ? 1 : 0;
}

export function activationForwardRef(kind: ActivationName, x: ArrayLike<number>, rows: number, cols: number, alpha?: number): Float64Array {
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
  for (let i = 0; i < y.length; i++) y[i] = activationValueRef(kind, x[i]!, alpha);
  return y;
}

/**
 * dx from the output y (the input x for gelu and swish/silu, as the kernels) and the incoming gradient dy: the
 * closed forms the kernels use.
 */
export function activationBackwardRef(kind: ActivationName, y: ArrayLike<number>, dy: ArrayLike<number>, rows: number, cols: number, alpha = defaultAlphaRef(kind)): Float64Array {
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
    dx[i] = g * derivativeRef(kind, v, alpha);
  }
  return dx;
}

/** act'(x) written with the output v = act(x) (with the input v = x for gelu and swish/silu). */
function derivativeRef(kind: ActivationName, v: number, alpha: number): number {
  switch (kind) {
    case 'relu': return v > 0 ? 1 : 0;
    case 'sigmoid': return v * (1 - v);
    case 'tanh': return 1 - v * v;
    case 'leaky_relu': return v > 0 ? 1 : alpha;
    case 'elu': return v > 0 ? 1 : v + alpha;
    case 'selu': return v > 0 ? SELU_SCALE : v + SELU_SCALE * SELU_ALPHA;
    case 'gelu': return 0.5 * (1 + erfRef(v / Math.SQRT2)) + (v * Math.exp(-0.5 * v * v)) / Math.sqrt(2 * Math.PI);
    case 'swish': case 'silu': { const s = sigmoidRef(v); return s + v * s * (1 - s); }
    case 'softplus': return -Math.expm1(-v);
    case 'hard_sigmoid': return v > 0 && v < 1 ? 0.2 : 0;
    default: return 1;
  }
}

/**
 * Central-difference gradient of f(x) = Σ dy · act(x) on the float64 forward: each element of x is moved by ±h
 * (the softmax row is recomputed, so cross terms are included).
 */
export function activationNumericGradRef(kind: ActivationName, x: ArrayLike<number>, dy: ArrayLike<number>, rows: number, cols: number, h = 1e-5, alpha?: number): Float64Array {
  const g = new Float64Array(rows * cols);
  const xr = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const b = r * cols;
    for (let j = 0; j < cols; j++) xr[j] = x[b + j]!;
    const f = (): number => {
      const y = activationForwardRef(kind, xr, 1, cols, alpha);
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
