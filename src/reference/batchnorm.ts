// float64 CPU references for shaders/batchnorm.wgsl: x viewed as [rows, cols], normalised per column (channel).

/** What batchNormForwardRef gives: the output, the statistics used, and the moving statistics after the step. */
export interface BatchNormRefResult {
  y: Float64Array;
  mean: Float64Array;
  /** The biased variance used (the batch's in training, the moving one otherwise). */
  variance: Float64Array;
  movingMean: Float64Array;
  movingVariance: Float64Array;
}

/** Per-channel mean and biased variance of x [rows, cols] (two passes). */
export function batchMomentsRef(x: ArrayLike<number>, rows: number, cols: number): { mean: Float64Array; variance: Float64Array } {
  const mean = new Float64Array(cols), variance = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) mean[c]! += x[r * cols + c]!;
  for (let c = 0; c < cols; c++) mean[c]! /= rows;
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) {
      const d = x[r * cols + c]! - mean[c]!;
      variance[c]! += d * d;
    }
  for (let c = 0; c < cols; c++) variance[c]! /= rows;
  return { mean, variance };
}

/**
 * y = gamma (x - mean) / sqrt(variance + epsilon) + beta with the batch's statistics (`training`, which also moves
 * the moving statistics by `momentum`, biased variance, as Keras 3 and TF.js) or the moving ones.
 */
export function batchNormForwardRef(
  x: ArrayLike<number>, rows: number, cols: number,
  w: { gamma?: ArrayLike<number>; beta?: ArrayLike<number>; movingMean: ArrayLike<number>; movingVariance: ArrayLike<number> },
  training: boolean, epsilon = 1e-3, momentum = 0.99,
): BatchNormRefResult {
  const movingMean = Float64Array.from(w.movingMean), movingVariance = Float64Array.from(w.movingVariance);
  let mean: Float64Array, variance: Float64Array;
  if (training) {
    ({ mean, variance } = batchMomentsRef(x, rows, cols));
    for (let c = 0; c < cols; c++) {
      movingMean[c] = movingMean[c]! * momentum + mean[c]! * (1 - momentum);
      movingVariance[c] = movingVariance[c]! * momentum + variance[c]! * (1 - momentum);
    }
  } else {
    mean = Float64Array.from(w.movingMean);
    variance = Float64Array.from(w.movingVariance);
  }
  const y = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      y[i] = ((x[i]! - mean[c]!) / Math.sqrt(variance[c]! + epsilon)) * (w.gamma ? w.gamma[c]! : 1) + (w.beta ? w.beta[c]! : 0);
    }
  return { y, mean, variance, movingMean, movingVariance };
}
