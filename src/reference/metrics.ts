// CPU references for shaders/metrics.wgsl (counts are integers, so float64 and u32 agree exactly). Targets: one-hot
// [n, c] (class: the first maximum), or (sparse) class indices [n].
import type { MetricCountSpec } from '../kernels/metrics.js';

function targetAt(target: ArrayLike<number>, sparse: boolean, c: number, r: number, j: number): number {
  return sparse ? (target[r] === j ? 1 : 0) : target[r * c + j]!;
}

/** The first maximum of v[base .. base + c), NaNs skipped (0 when all are NaN), as shaders/metrics.wgsl finds it. */
export function argmaxRef(v: ArrayLike<number>, base: number, c: number): number {
  let m = -Infinity, a = -1;
  for (let j = 0; j < c; j++) {
    const x = v[base + j]!;
    if (!Number.isNaN(x) && (a < 0 || x > m)) (m = x), (a = j);
  }
  return Math.max(a, 0);
}

function targetClass(target: ArrayLike<number>, sparse: boolean, c: number, r: number): number {
  if (sparse) return target[r]!;
  let m = target[r * c]!, a = 0;
  for (let j = 1; j < c; j++) if (target[r * c + j]! > m) (m = target[r * c + j]!), (a = j);
  return a;
}

/** tf.math.in_top_k for row r: fewer than k predictions strictly above the target's; false on any non-finite one. */
function inTopK(pred: ArrayLike<number>, t: number, base: number, c: number, k: number): boolean {
  if (!(t >= 0 && t < c) || !Number.isFinite(pred[base + t]!)) return false;
  let larger = 0;
  for (let j = 0; j < c; j++) {
    const v = pred[base + j]!;
    if (!Number.isFinite(v)) return false;
    if (v > pred[base + t]!) larger++;
  }
  return larger < k;
}

/** [numerator, denominator] of each metric over n rows, in the layout metricCounts accumulates. */
export function metricCountsRef(pred: ArrayLike<number>, target: ArrayLike<number>, n: number, c: number, metrics: readonly MetricCountSpec[], sparse = false): number[] {
  const out: number[] = [];
  for (const m of metrics) {
    const threshold = Math.fround(m.threshold ?? 0.5);
    let num = 0, den = 0;
    for (let r = 0; r < n; r++) {
      const base = r * c;
      if (m.kind === 'topK') {
        if (inTopK(pred, targetClass(target, sparse, c, r), base, c, m.k ?? 5)) num++;
        den++;
        continue;
      }
      const [j0, j1] = m.kind !== 'binary' && m.classId !== undefined ? [m.classId, m.classId + 1] : [0, c];
      for (let j = j0; j < j1; j++) {
        const predicted = pred[base + j]! > threshold;
        const t = targetAt(target, sparse, c, r, j);
        if (m.kind === 'binary') {
          if (t === (predicted ? 1 : 0)) num++;
          den++;
        } else {
          if (predicted && t !== 0) num++;
          if (m.kind === 'precision' ? predicted : t !== 0) den++;
        }
      }
    }
    out.push(num, den);
  }
  return out;
}

/**
 * The [c, c] confusion counts (row: true class, column: argmaxRef of the prediction); labels outside [0, c) skipped.
 * One output (c = 1): [2, 2] of target > 0.5 (or the sparse label) against prediction > 0.5.
 */
export function confusionMatrixRef(pred: ArrayLike<number>, target: ArrayLike<number>, n: number, c: number, sparse = false): number[] {
  if (c === 1) {
    const m = [0, 0, 0, 0];
    const threshold = Math.fround(0.5);
    for (let r = 0; r < n; r++) {
      const t = sparse ? target[r]! : target[r]! > threshold ? 1 : 0;
      if (t === 0 || t === 1) m[t * 2 + (pred[r]! > threshold ? 1 : 0)]!++;
    }
    return m;
  }
  const m = new Array<number>(c * c).fill(0);
  for (let r = 0; r < n; r++) {
    const t = targetClass(target, sparse, c, r);
    if (t >= 0 && t < c) m[t * c + argmaxRef(pred, r * c, c)]!++;
  }
  return m;
}
