// float64 CPU references for shaders/loss.wgsl. Targets: one-hot [n, c], or (sparse) class indices [n].

export type LossKindRef = 'softmaxCrossEntropy' | 'crossEntropyFromProbs' | 'meanSquaredError' | 'sigmoidCrossEntropy' | 'binaryCrossEntropyFromProbs';

export interface LossRef {
  /** Per-row losses. */
  rows: Float64Array;
  lossSum: number;
  correct: number;
  /** softmax (or sigmoid) probabilities (softmaxCrossEntropy and sigmoidCrossEntropy only). */
  probs?: Float64Array;
  /** the gradient times gradScale (the closed forms the kernels use). */
  grad: Float64Array;
}

const EPS = Math.fround(1e-7);
const ONE_MINUS_EPS = Math.fround(1 - EPS);

function targetAt(target: ArrayLike<number>, sparse: boolean, c: number, r: number, j: number): number {
  return sparse ? (target[r] === j ? 1 : 0) : target[r * c + j]!;
}

function argmax(v: ArrayLike<number>, base: number, c: number): number {
  let m = v[base]!, a = 0;
  for (let j = 1; j < c; j++) if (v[base + j]! > m) (m = v[base + j]!), (a = j);
  return a;
}

/** The loss of each row, its sum, the correct count and the gradient; `weights` ([n]) scale each row's loss and gradient (sample weights). */
export function lossRef(kind: LossKindRef, x: ArrayLike<number>, target: ArrayLike<number>, n: number, c: number, gradScale: number, sparse = false, weights?: ArrayLike<number>): LossRef {
  const rows = new Float64Array(n);
  const grad = new Float64Array(n * c);
  const probs = kind === 'softmaxCrossEntropy' || kind === 'sigmoidCrossEntropy' ? new Float64Array(n * c) : undefined;
  let correct = 0;
  for (let r = 0; r < n; r++) {
    const b = r * c;
    const ta = sparse ? target[r]! : argmax(target, b, c);
    const binary = kind === 'sigmoidCrossEntropy' || kind === 'binaryCrossEntropyFromProbs';
    if (!binary && argmax(x, b, c) === ta) correct++;
    let loss = 0;
    if (binary) {
      // Keras' binary_crossentropy (mean over the row) and binary_accuracy (equal(t, p > 0.5), mean over the row)
      let hits = 0;
      for (let j = 0; j < c; j++) {
        const t = targetAt(target, sparse, c, r, j);
        const v = x[b + j]!;
        if (kind === 'sigmoidCrossEntropy') {
          const q = 1 / (1 + Math.exp(-v));
          probs![b + j] = q;
          grad[b + j] = ((q - t) / c) * gradScale;
          loss += Math.max(v, 0) - v * t + Math.log1p(Math.exp(-Math.abs(v)));
          hits += t === (v > 0 ? 1 : 0) ? 1 : 0;
        } else {
          const q = Math.min(Math.max(v, EPS), ONE_MINUS_EPS);
          grad[b + j] = v >= EPS && v <= ONE_MINUS_EPS ? ((-t / v + (1 - t) / (1 - v)) / c) * gradScale : 0;
          loss -= t * Math.log(q) + (1 - t) * Math.log(1 - q);
          hits += t === (v > 0.5 ? 1 : 0) ? 1 : 0;
        }
      }
      loss /= c;
      correct += hits / c;
    } else if (kind === 'softmaxCrossEntropy') {
      let m = -Infinity;
      for (let j = 0; j < c; j++) m = Math.max(m, x[b + j]!);
      let s = 0;
      for (let j = 0; j < c; j++) s += Math.exp(x[b + j]! - m);
      const lse = m + Math.log(s);
      for (let j = 0; j < c; j++) {
        const t = targetAt(target, sparse, c, r, j);
        const q = Math.exp(x[b + j]! - lse);
        probs![b + j] = q;
        grad[b + j] = (q - t) * gradScale;
        if (t !== 0) loss += t * (lse - x[b + j]!);
      }
    } else if (kind === 'crossEntropyFromProbs') {
      for (let j = 0; j < c; j++) {
        const t = targetAt(target, sparse, c, r, j);
        const v = x[b + j]!;
        const inside = v >= EPS && v <= ONE_MINUS_EPS;
        grad[b + j] = inside ? (-t / v) * gradScale : 0;
        if (t !== 0) loss -= t * Math.log(Math.min(Math.max(v, EPS), ONE_MINUS_EPS));
      }
    } else {
      for (let j = 0; j < c; j++) {
        const d = x[b + j]! - targetAt(target, sparse, c, r, j);
        grad[b + j] = ((2 * d) / c) * gradScale;
        loss += d * d;
      }
      loss /= c;
    }
    const w = weights ? weights[r]! : 1;
    if (weights) for (let j = 0; j < c; j++) grad[b + j] *= w;
    rows[r] = loss * w;
  }
  let lossSum = 0;
  for (const l of rows) lossSum += l;
  return { rows, lossSum, correct, probs, grad };
}

/**
 * Central differences of gradScale * Σ_rows loss on the float64 forward, per element of x, with a step relative
 * to the element (h = rel * max(|x|, 0.01)) so that -log(p) at small p keeps its truncation error small.
 */
export function lossNumericGradRef(kind: LossKindRef, x: ArrayLike<number>, target: ArrayLike<number>, n: number, c: number, gradScale: number, sparse = false, rel = 1e-5): Float64Array {
  const g = new Float64Array(n * c);
  const xr = Float64Array.from(x);
  for (let r = 0; r < n; r++) {
    // only row r's loss depends on row r's inputs: differentiate that row alone
    const row = xr.subarray(r * c, (r + 1) * c);
    const t = sparse ? [target[r]!] : Array.from({ length: c }, (_, j) => target[r * c + j]!);
    for (let j = 0; j < c; j++) {
      const v = row[j]!;
      const h = rel * Math.max(Math.abs(v), 0.01);
      row[j] = v + h;
      const fp = lossRef(kind, row, t, 1, c, 1, sparse).lossSum;
      row[j] = v - h;
      const fm = lossRef(kind, row, t, 1, c, 1, sparse).lossSum;
      row[j] = v;
      g[r * c + j] = ((fp - fm) / (2 * h)) * gradScale;
    }
  }
  return g;
}
