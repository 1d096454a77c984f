// Whole-model gradient checks shared by test/gradcheck-model.test.ts and test/functional.test.ts: the gradients one
// real training step left in the arena against central differences of the float64 twin of the model.
import { expect } from 'vitest';
import { centralDifferences } from '../../src/check/gradients.js';

/**
 * Expects every gradient in `grads` to match central differences of `loss` (which reads the float64 weights in `w`,
 * by name) within 2e-5 of the tensor's largest numeric gradient, which must not vanish; pushes each relative error
 * to `measured` as `${label} name: error`.
 */
export function expectGradientsMatch(grads: { name: string; values: Float32Array }[], w: Map<string, Float64Array>, loss: () => number, label: string, measured: string[]): void {
  for (const g of grads) {
    const p = w.get(g.name)!;
    const numeric = centralDifferences(p, loss);
    let worst = 0, scale = 0;
    for (let i = 0; i < p.length; i++) {
      worst = Math.max(worst, Math.abs(g.values[i]! - numeric[i]!));
      scale = Math.max(scale, Math.abs(numeric[i]!));
    }
    expect(scale, `${g.name}: the numeric gradient vanished, so the check would prove nothing`).toBeGreaterThan(1e-4);
    const rel = worst / scale;
    measured.push(`${label} ${g.name}: ${rel.toExponential(2)}`);
    // float32 forward and backward over sums of at most ~100 terms: measured <= 1.3e-6 relative here; 2e-5
    // leaves room for another adapter's summation order, and any wrong index, transpose, padding offset,
    // missing term or target gives errors of order 1 (seen: 1.4 when MSE targets were read as class indices).
    expect(rel, `${g.name}: GPU gradient vs central differences of the float64 model`).toBeLessThan(2e-5);
  }
}
